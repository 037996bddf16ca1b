// Helpers for the Kafka tests: a real broker (scripts/kafka-up.sh, unless KAFKA_BROKERS points at
// one), unique topic names, a collector that reads a topic from the beginning, polling.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Admin,
  type Consumer,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  logLevel,
  Partitioners,
  type Producer,
} from "kafkajs";
import { describe } from "vitest";
import type { KafkaTopics } from "../../src/config.js";
import { type ChildService, spawnService } from "../helpers/child-service.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { setClock, T0 } from "../helpers/events.js";

export { type ChildService, spawnService };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/**
 * Why the Kafka tests cannot run here, or null when they can. Under CI=true they must run: a
 * missing broker (and no way to start one) fails the run instead of skipping quietly.
 */
export function kafkaUnavailable(): string | null {
  const reason = whyNoKafka();
  if (reason && isCI()) {
    throw new Error(`CI=true and the Kafka tests cannot run: ${reason}`);
  }
  return reason;
}

/**
 * A Kafka suite: `describe(name, body)`, skipped with a warning (`<what> skipped: <why>`) where the
 * Kafka tests cannot run (under CI=true, kafkaUnavailable throws instead).
 */
export function describeKafka(name: string, what: string, body: () => void): void {
  const unavailable = kafkaUnavailable();
  if (unavailable) console.warn(`[test/kafka] ${what} skipped: ${unavailable}`);
  describe.skipIf(unavailable !== null)(`${name}${unavailable ? ` (skipped: ${unavailable})` : ""}`, body);
}

function isCI(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
}

function whyNoKafka(): string | null {
  if (process.env.KAFKA_BROKERS) return null;
  if (!onPath("java")) {
    return "java is not installed (scripts/kafka-up.sh needs Java 17+ to run a local Kafka broker; or set KAFKA_BROKERS)";
  }
  const libs = path.join(ROOT, ".kafka/libs");
  const cached = existsSync(libs) && readdirSync(libs).some((f) => f.startsWith("kafka_2.13-"));
  if (!onPath("mvn") && !cached) {
    return "mvn is not installed and the Kafka jars are not cached in .kafka/libs (scripts/kafka-up.sh fetches them with Maven once; or set KAFKA_BROKERS)";
  }
  return null;
}

/** Starts the local broker unless KAFKA_BROKERS is set (idempotent; serialised across test files). Never stops it. */
export function ensureBroker(): string[] {
  const configured = process.env.KAFKA_BROKERS;
  if (configured) return configured.split(",").map((b) => b.trim());
  mkdirSync(path.join(ROOT, ".kafka"), { recursive: true });
  const script = path.join(ROOT, "scripts/kafka-up.sh");
  const lock = path.join(ROOT, ".kafka/up.lock");
  // -o: the broker started in the background must not inherit the lock, or every later caller
  // waits for the broker to exit.
  const [command, args] = onPath("flock") ? ["flock", ["-o", lock, "bash", script]] : ["bash", [script]];
  try {
    execFileSync(command as string, args as string[], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 120_000,
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`scripts/kafka-up.sh failed: ${stderr || (error as Error).message}`);
  }
  return [`127.0.0.1:${process.env.KAFKA_PORT ?? "9092"}`];
}

export const uniq = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`;

export function testTopics(tag: string): KafkaTopics {
  const id = uniq(tag);
  return {
    sessionSamples: `${id}.sessions`,
    siteDemand: `${id}.demand`,
    priceSignals: `${id}.prices`,
    drSignals: `${id}.dr`,
    setpointCommands: `${id}.commands`,
    failsafeProfiles: `${id}.failsafe`,
  };
}

/** Environment variables for `src/main.ts` with these topics. */
export function topicEnv(topics: KafkaTopics): Record<string, string> {
  return {
    KAFKA_TOPIC_SESSIONS: topics.sessionSamples,
    KAFKA_TOPIC_DEMAND: topics.siteDemand,
    KAFKA_TOPIC_PRICES: topics.priceSignals,
    KAFKA_TOPIC_DR: topics.drSignals,
    KAFKA_TOPIC_COMMANDS: topics.setpointCommands,
    KAFKA_TOPIC_FAILSAFE: topics.failsafeProfiles,
  };
}

export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: "scc-test", brokers, logLevel: logLevel.NOTHING });
}

export async function createTopics(admin: Admin, topics: string[], numPartitions = 3): Promise<void> {
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions })), waitForLeaders: true });
}

export interface Received {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {}))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(",") : v.toString();
  return out;
}

export interface Collector {
  readonly messages: Received[];
  stop(): Promise<void>;
}

/** Reads topics from the beginning (own group) into `messages` until stopped. */
export async function collect(kafka: Kafka, topics: string[]): Promise<Collector> {
  const consumer: Consumer = kafka.consumer({
    groupId: uniq("scc-test-reader"),
    maxWaitTimeInMs: 200,
    sessionTimeout: 10_000,
  });
  const messages: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }: { topic: string; partition: number; message: KafkaMessage }) => {
      messages.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? null,
        headers: headerStrings(message.headers),
      });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
}

export async function connectProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  return producer;
}

/** A session-samples message for `session` at `site` on connector 1 of charge point `cp-<session>`, keyed by it. */
export function sessionSample(
  site: string,
  session: string,
  fields: Record<string, unknown>,
): { key: string; value: unknown } {
  return {
    key: `cp-${session}`,
    value: { session_id: session, charge_point_id: `cp-${session}`, connector_id: 1, site_id: site, ...fields },
  };
}

/** Sends JSON values (or raw strings) keyed by the given key. */
export async function send(producer: Producer, topic: string, items: { key: string; value: unknown }[]): Promise<void> {
  await producer.send({
    topic,
    acks: -1,
    messages: items.map((i) => ({
      key: i.key,
      value: typeof i.value === "string" ? i.value : JSON.stringify(i.value),
    })),
  });
}

/** The group's committed offset per partition of a topic (-1: none). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Record<number, string>> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return Object.fromEntries((entry?.partitions ?? []).map((p) => [p.partition, p.offset]));
}

/** True when the group has committed the end offset of every partition of the topics. */
export async function caughtUp(admin: Admin, groupId: string, topics: string[]): Promise<boolean> {
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await committedOffsets(admin, groupId, topic);
    for (const end of ends) {
      if (end.high === "0") continue;
      if (committed[end.partition] !== end.high) return false;
    }
  }
  return true;
}

/** What every Kafka test file starts with: the broker, an admin, its topics, a database on the T0 clock. */
export interface KafkaTestEnv {
  readonly brokers: string[];
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly topics: KafkaTopics;
  readonly groupId: string;
  readonly db: TestDatabase;
  /** Disconnects the admin and drops the database (and with it the durable command slot). */
  close(): Promise<void>;
}

/** Starts the environment; `create` names the topics to create (3 partitions each), default all five. */
export async function startKafkaTestEnv(
  tag: string,
  create: readonly (keyof KafkaTopics)[] = [
    "sessionSamples",
    "siteDemand",
    "priceSignals",
    "drSignals",
    "setpointCommands",
    "failsafeProfiles",
  ],
): Promise<KafkaTestEnv> {
  const brokers = ensureBroker();
  const kafka = testKafka(brokers);
  const admin = kafka.admin();
  await admin.connect();
  const topics = testTopics(tag);
  await createTopics(
    admin,
    create.map((kind) => topics[kind]),
    3,
  );
  const db = await createTestDatabase();
  await setClock(db.pool, T0);
  return {
    brokers,
    kafka,
    admin,
    topics,
    groupId: uniq(`${tag}-group`),
    db,
    async close() {
      await admin.disconnect().catch(() => {});
      await db.drop();
    },
  };
}
