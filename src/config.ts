// The environment, parsed once at start-up. Every problem names the variable and what was wrong.
import path from "node:path";
import { ROLES, type Role } from "./domain.js";
import { INPUT_STREAMS, STREAM_KINDS, type StreamKind } from "./ingest/streams.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export type NodeEnv = "development" | "production" | "test";

export interface ApiKeySpec {
  readonly key: string;
  readonly role: Role;
  readonly sites: readonly string[] | null;
}

export interface Config {
  readonly port: number;
  /** null: start an embedded PostgreSQL in dataDir. */
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  /** null: the Kafka bridge is off. */
  readonly kafkaBrokers: readonly string[] | null;
  readonly kafkaTopics: KafkaTopics;
  readonly kafkaGroupId: string;
  /** The most Kafka messages of one stream stored in one database transaction (partitions merged). */
  readonly kafkaBatchMaxMessages: number;
  /** How long the consumer waits for more partitions' messages before it stores what it has. */
  readonly kafkaBatchWaitMs: number;
  /** Partitions of the topics the bridge creates (existing topics are left as they are). */
  readonly kafkaTopicPartitions: number;
  /** null: API_KEYS not set. */
  readonly apiKeys: readonly ApiKeySpec[] | null;
  readonly logLevel: LogLevel;
  readonly nodeEnv: NodeEnv;
  /** Schema introspection; off in production unless GRAPHQL_INTROSPECTION=true. */
  readonly introspection: boolean;
  /** Requests per second per API key (bursts of twice that); 0 turns the limit off. */
  readonly rateLimitPerSecond: number;
  /** The admin mutation setClock (simulations and demos only; never in a real deployment). */
  readonly allowClockControl: boolean;
  /** On stop, how long requests in flight may take to finish before their connections are closed. */
  readonly shutdownDrainMs: number;
  /** Queries and mutations being executed on one graphql-ws connection; more: TOO_MANY_OPERATIONS. */
  readonly wsMaxInFlight: number;
  /** Open graphql-ws connections per key; more: the new socket is closed with 4429. */
  readonly maxConnectionsPerKey: number;
  /** Open subscriptions per key, graphql-ws and SSE together; more: TOO_MANY_SUBSCRIPTIONS. */
  readonly maxSubscriptionsPerKey: number;
  /** Failed authentications per client address per minute (bursts of that many); more: 429. 0: off. */
  readonly authFailuresPerMinute: number;
  /** /metrics answers only with an unrestricted key of a role that may read (METRICS_REQUIRE_KEY). */
  readonly metricsRequireKey: boolean;
  /** Bounded storage (src/storage/): days kept per kind of history, partition layout, job period. */
  readonly retention: RetentionConfig;
}

/** Days are whole days; 0 keeps that history forever. */
export interface RetentionConfig {
  readonly rawDays: number;
  readonly commandsDays: number;
  readonly alertsDays: number;
  readonly deadLettersDays: number;
  readonly partitionHours: number;
  readonly partitionsAhead: number;
  readonly intervalSeconds: number;
  /** A durable replication slot of ours not read for this long is dropped; 0: only reported. */
  readonly abandonedSlotDropMinutes: number;
}

/** One topic per input stream (named by the stream registry), the command topic and the failsafe topic. */
export type KafkaTopics = { readonly [K in StreamKind]: string } & {
  readonly setpointCommands: string;
  /** A site's failsafe profiles, on every change (src/chargepoints/failsafe-publisher.ts). */
  readonly failsafeProfiles: string;
};

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const NODE_ENVS: readonly NodeEnv[] = ["development", "production", "test"];

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return 4000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError("PORT", `must be an integer between 0 and 65535, got "${raw}"`);
  }
  return port;
}

function parseDatabaseUrl(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("DATABASE_URL", "is not a valid URL (expected postgres://user:pass@host:port/db)");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError("DATABASE_URL", `must use postgres:// or postgresql://, got "${url.protocol}"`);
  }
  return raw;
}

function parseBrokers(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const brokers = raw.split(",").map((b) => b.trim());
  for (const broker of brokers) {
    const match = /^([A-Za-z0-9.\-_]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(broker);
    if (!match || Number(match[2]) > 65535) {
      throw new ConfigError("KAFKA_BROKERS", `must be comma-separated host:port entries, got "${broker}"`);
    }
  }
  return brokers;
}

/** `key:role[:site,site,...]` entries separated by `;` (SPEC §7). */
export function parseApiKeys(raw: string | undefined): ApiKeySpec[] | null {
  if (raw === undefined) return null;
  const specs: ApiKeySpec[] = [];
  const entries = raw
    .split(";")
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) throw new ConfigError("API_KEYS", "is set but holds no key:role entry");
  for (const [index, entry] of entries.entries()) {
    const [key, role, sites, ...rest] = entry.split(":");
    if (!key || key.length < 8) {
      throw new ConfigError("API_KEYS", `entry ${index + 1}: the key must be at least 8 characters`);
    }
    if (!role || !(ROLES as readonly string[]).includes(role)) {
      throw new ConfigError(
        "API_KEYS",
        `entry ${index + 1}: role must be one of ${ROLES.join(", ")}, got "${role ?? ""}"`,
      );
    }
    if (rest.length > 0) throw new ConfigError("API_KEYS", `entry ${index + 1}: too many ':' separated parts`);
    const siteList =
      sites === undefined
        ? null
        : sites
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s.length > 0);
    if (siteList !== null && siteList.length === 0) {
      throw new ConfigError("API_KEYS", `entry ${index + 1}: the site list after the role is empty`);
    }
    specs.push({ key, role: role as ApiKeySpec["role"], sites: siteList });
  }
  return specs;
}

function parseTopic(env: Env, name: string, fallback: string): string {
  const value = nonEmpty(env, name) ?? fallback;
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(value)) {
    throw new ConfigError(name, `must be a Kafka topic name (letters, digits, '.', '_', '-'), got "${value}"`);
  }
  return value;
}

function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function parseRate(raw: string | undefined): number {
  if (raw === undefined) return 200;
  const rate = Number(raw);
  if (!Number.isFinite(rate) || rate < 0)
    throw new ConfigError("RATE_LIMIT_PER_SECOND", `must be a number >= 0, got "${raw}"`);
  return rate;
}

function parseMilliseconds(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0)
    throw new ConfigError(name, `must be a whole number of milliseconds >= 0, got "${raw}"`);
  return ms;
}

function parseCount(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > 1_000_000)
    throw new ConfigError(name, `must be a whole number from ${min} to 1000000, got "${raw}"`);
  return value;
}

function parseRange(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function parseRetention(env: Env): RetentionConfig {
  const days = (name: string, fallback: number) => parseRange(name, nonEmpty(env, name), fallback, 0, 36_500);
  return Object.freeze({
    rawDays: days("RETENTION_RAW_DAYS", 30),
    commandsDays: days("RETENTION_COMMANDS_DAYS", 7),
    alertsDays: days("RETENTION_ALERTS_DAYS", 90),
    deadLettersDays: days("RETENTION_DEAD_LETTERS_DAYS", 30),
    partitionHours: parseRange("RETENTION_PARTITION_HOURS", nonEmpty(env, "RETENTION_PARTITION_HOURS"), 24, 1, 744),
    partitionsAhead: parseRange("RETENTION_PARTITIONS_AHEAD", nonEmpty(env, "RETENTION_PARTITIONS_AHEAD"), 2, 1, 100),
    intervalSeconds: parseRange(
      "RETENTION_INTERVAL_SECONDS",
      nonEmpty(env, "RETENTION_INTERVAL_SECONDS"),
      300,
      1,
      86_400,
    ),
    abandonedSlotDropMinutes: parseRange(
      "ABANDONED_SLOT_DROP_MINUTES",
      nonEmpty(env, "ABANDONED_SLOT_DROP_MINUTES"),
      60,
      0,
      525_600,
    ),
  });
}

function parseEnum<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!allowed.includes(raw as T)) {
    throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const nodeEnv = parseEnum("NODE_ENV", nonEmpty(env, "NODE_ENV"), NODE_ENVS, "development");
  const config: Config = {
    port: parsePort(nonEmpty(env, "PORT")),
    databaseUrl: parseDatabaseUrl(nonEmpty(env, "DATABASE_URL")),
    dataDir: path.resolve(cwd, nonEmpty(env, "DATA_DIR") ?? ".data"),
    kafkaBrokers: parseBrokers(nonEmpty(env, "KAFKA_BROKERS")),
    kafkaTopics: Object.freeze({
      ...(Object.fromEntries(
        STREAM_KINDS.map((kind) => [
          kind,
          parseTopic(env, INPUT_STREAMS[kind].topicVariable, INPUT_STREAMS[kind].defaultTopic),
        ]),
      ) as { [K in StreamKind]: string }),
      setpointCommands: parseTopic(env, "KAFKA_TOPIC_COMMANDS", "ocpp.setpoint.commands"),
      failsafeProfiles: parseTopic(env, "KAFKA_TOPIC_FAILSAFE", "ocpp.failsafe.profiles"),
    }),
    kafkaGroupId: parseTopic(env, "KAFKA_GROUP_ID", "smart-charging-coordinator"),
    kafkaBatchMaxMessages: parseCount("KAFKA_BATCH_MAX_MESSAGES", nonEmpty(env, "KAFKA_BATCH_MAX_MESSAGES"), 5000, 1),
    kafkaBatchWaitMs: parseMilliseconds("KAFKA_BATCH_WAIT_MS", nonEmpty(env, "KAFKA_BATCH_WAIT_MS"), 5),
    kafkaTopicPartitions: parseCount("KAFKA_TOPIC_PARTITIONS", nonEmpty(env, "KAFKA_TOPIC_PARTITIONS"), 6, 1),
    apiKeys: parseApiKeys(nonEmpty(env, "API_KEYS")),
    logLevel: parseEnum("LOG_LEVEL", nonEmpty(env, "LOG_LEVEL"), LOG_LEVELS, nodeEnv === "test" ? "silent" : "info"),
    nodeEnv,
    introspection: parseBoolean(
      "GRAPHQL_INTROSPECTION",
      nonEmpty(env, "GRAPHQL_INTROSPECTION"),
      nodeEnv !== "production",
    ),
    rateLimitPerSecond: parseRate(nonEmpty(env, "RATE_LIMIT_PER_SECOND")),
    allowClockControl: parseBoolean("ALLOW_CLOCK_CONTROL", nonEmpty(env, "ALLOW_CLOCK_CONTROL"), false),
    shutdownDrainMs: parseMilliseconds("SHUTDOWN_DRAIN_MS", nonEmpty(env, "SHUTDOWN_DRAIN_MS"), 10_000),
    wsMaxInFlight: parseCount("WS_MAX_IN_FLIGHT", nonEmpty(env, "WS_MAX_IN_FLIGHT"), 10, 1),
    maxConnectionsPerKey: parseCount("MAX_CONNECTIONS_PER_KEY", nonEmpty(env, "MAX_CONNECTIONS_PER_KEY"), 100, 1),
    maxSubscriptionsPerKey: parseCount(
      "MAX_SUBSCRIPTIONS_PER_KEY",
      nonEmpty(env, "MAX_SUBSCRIPTIONS_PER_KEY"),
      1000,
      1,
    ),
    authFailuresPerMinute: parseCount("AUTH_FAILURES_PER_MINUTE", nonEmpty(env, "AUTH_FAILURES_PER_MINUTE"), 60, 0),
    metricsRequireKey: parseBoolean("METRICS_REQUIRE_KEY", nonEmpty(env, "METRICS_REQUIRE_KEY"), false),
    retention: parseRetention(env),
  };
  return Object.freeze(config);
}
