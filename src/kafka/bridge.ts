// The Kafka bridge (SPEC §2, §5): the four input topics in (src/kafka/ingest-consumer.ts), the
// setpoint commands out (src/kafka/command-publisher.ts). Built by buildApp when KAFKA_BROKERS
// is set. start() does not fail because Kafka is unreachable: both halves retry in the background
// and healthy() (readiness) says whether they work.
import { type Admin, Kafka, logLevel, Partitioners } from "kafkajs";
import type { Logger } from "pino";
import { FailsafePublisher } from "../chargepoints/failsafe-publisher.js";
import type { KafkaTopics } from "../config.js";
import type { Database } from "../db/database.js";
import { errorMessage } from "../lib/errors.js";
import type { Metrics } from "../ops/metrics.js";
import type { Fanout } from "../stream/fanout.js";
import { CommandPublisher } from "./command-publisher.js";
import { type BatchLimits, IngestConsumer } from "./ingest-consumer.js";
import { ManagedProducer } from "./managed-producer.js";
import { dlqTopic, STREAM_KINDS, topicKinds } from "./messages.js";
import { createKafkaMetrics, pinoLogCreator } from "./support.js";

export interface KafkaBridgeOptions {
  brokers: readonly string[];
  topics: KafkaTopics;
  groupId: string;
  /** Merging of the partitions' messages into one transaction per stream (see ingest-consumer.ts). */
  batch: BatchLimits;
  /** Partitions of the topics the bridge creates. */
  topicPartitions: number;
  database: Database;
  logger: Logger;
  metrics: Metrics;
  /** The live feed: wakes the command publisher when commands are committed. */
  fanout?: Fanout;
}

export interface KafkaBridge {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** False while the consumer or producer cannot work (for /readyz). */
  healthy(): boolean;
}

/** How long start() waits for the consumer to join its group before going on without it. */
const START_WAIT_MS = 10_000;

/**
 * Creates the bridge's topics that do not exist yet with `partitions` partitions (the broker's
 * replication default); best effort. Existing topics are left alone.
 */
async function ensureTopics(kafka: Kafka, topics: KafkaTopics, partitions: number, logger: Logger): Promise<void> {
  const wanted = [
    ...STREAM_KINDS.map((kind) => topics[kind]),
    ...STREAM_KINDS.map((kind) => dlqTopic(topics[kind])),
    topics.setpointCommands,
    topics.failsafeProfiles,
  ];
  let admin: Admin | null = null;
  try {
    admin = kafka.admin({ retry: { retries: 2, initialRetryTime: 300 } });
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
        waitForLeaders: true,
      });
      logger.info({ topics: missing, partitions }, "created kafka topics");
    }
  } catch (error) {
    logger.warn(
      { err: errorMessage(error) },
      "could not check or create the kafka topics (they are auto-created on first use if the broker allows)",
    );
  } finally {
    await admin?.disconnect().catch(() => {});
  }
}

export function createKafkaBridge(options: KafkaBridgeOptions): KafkaBridge {
  const kinds = topicKinds(options.topics); // throws on a topic configured twice
  const logger = options.logger.child({ component: "kafka" });
  let consumer: IngestConsumer | null = null;
  let publisher: CommandPublisher | null = null;
  let failsafe: FailsafePublisher | null = null;
  let dlq: ManagedProducer | null = null;
  let running = false;

  const metrics = createKafkaMetrics(options.metrics.registry, {
    consumerUp: () => consumer?.up ?? false,
    producerOk: () => publisher?.ok ?? false,
    leader: () => publisher?.leader ?? false,
  });

  return {
    async start() {
      if (running) throw new Error("kafka bridge already started");
      running = true;
      const kafka = new Kafka({
        clientId: "smart-charging-coordinator",
        brokers: [...options.brokers],
        connectionTimeout: 3000,
        requestTimeout: 30_000,
        retry: { initialRetryTime: 300, retries: 5, maxRetryTime: 10_000 },
        logLevel: logLevel.INFO,
        logCreator: pinoLogCreator(logger),
      });
      dlq = new ManagedProducer(kafka, {
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
      });
      consumer = new IngestConsumer({
        kafka,
        kinds,
        groupId: options.groupId,
        batch: options.batch,
        db: options.database.db,
        logger,
        metrics,
        dlq,
      });
      publisher = new CommandPublisher({
        kafka,
        topic: options.topics.setpointCommands,
        connectionString: options.database.connectionString,
        pool: options.database.pool,
        logger,
        metrics,
        appMetrics: options.metrics,
        fanout: options.fanout,
      });
      failsafe = new FailsafePublisher({
        kafka,
        topic: options.topics.failsafeProfiles,
        pool: options.database.pool,
        connectionString: options.database.connectionString,
        logger,
      });
      await failsafe.start();
      const ingest = consumer;
      const consuming = (async () => {
        await ensureTopics(kafka, options.topics, options.topicPartitions, logger);
        if (running) await ingest.start();
      })().catch((error: unknown) => logger.error({ err: errorMessage(error) }, "kafka consumer failed to start"));
      // Kafka being unreachable must not hold up the service (its HTTP server starts after us):
      // wait a little for the consumer to join, then let it keep trying in the background.
      let timer: NodeJS.Timeout | undefined;
      const [joined] = await Promise.all([
        Promise.race([
          consuming.then(() => true),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), START_WAIT_MS);
          }),
        ]).finally(() => clearTimeout(timer)),
        publisher.start(),
      ]);
      if (!joined)
        logger.warn(
          { brokers: options.brokers },
          "kafka is not reachable yet; the bridge keeps trying in the background",
        );
      logger.info(
        { brokers: options.brokers, groupId: options.groupId, topics: options.topics, leader: publisher.leader },
        "kafka bridge started",
      );
    },

    async stop() {
      if (!running) return;
      running = false;
      // Consumer first (its batch in flight finishes or is abandoned uncommitted), then the
      // publisher (its position moves only after Kafka acknowledged).
      await consumer?.stop();
      await publisher?.stop();
      await failsafe?.stop();
      await dlq?.close();
      consumer = null;
      publisher = null;
      failsafe = null;
      dlq = null;
    },

    healthy() {
      return running && (consumer?.up ?? false) && (publisher?.ok ?? false);
    },
  };
}
