// Small pieces shared by the consumer and the command publisher: kafkajs logging through pino,
// the bridge's Prometheus metrics, and telling transient database errors from bad data.
import { createHash } from "node:crypto";
import { type logCreator, logLevel } from "kafkajs";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { sqlState } from "../lib/errors.js";

/** Expected kafkajs warnings: our idempotent producers limit retries on purpose (the callers retry; at-least-once). */
const QUIET_WARNINGS = ["Limiting retries for the idempotent producer"];

/**
 * kafkajs log entries into pino. kafkajs logs every failed connection attempt and every error
 * response at ERROR and then retries by itself; the bridge logs the states that matter (consumer
 * crashed, commands not published, batch not stored) with context. So kafkajs ERROR is a warning
 * here, and its INFO is debug.
 */
export function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log as typeof log & { logger?: unknown };
      const entry = { kafkajs: namespace, ...extra };
      const quiet = QUIET_WARNINGS.some((w) => message.startsWith(w));
      if ((level === logLevel.ERROR || level === logLevel.WARN) && !quiet) logger.warn(entry, message);
      else logger.debug(entry, message);
    };
}

export interface KafkaMetrics {
  readonly messages: Counter<"topic" | "outcome">;
  readonly batchDuration: Histogram<"topic">;
  readonly ingestRetries: Counter<"topic" | "reason">;
  readonly dlqPublished: Counter<"topic">;
  readonly dlqPublishFailures: Counter<"topic">;
  readonly commandsPublished: Counter<"topic">;
  readonly commandPublishFailures: Counter<"topic">;
}

export interface KafkaHealth {
  consumerUp(): boolean;
  producerOk(): boolean;
  leader(): boolean;
}

export function createKafkaMetrics(registry: Registry, health: KafkaHealth): KafkaMetrics {
  new Gauge({
    name: "scc_kafka_up",
    help: "1 while a part of the Kafka bridge works (consumer: in its group and ingesting; producer: not failing)",
    labelNames: ["component"],
    registers: [registry],
    collect() {
      this.set({ component: "consumer" }, health.consumerUp() ? 1 : 0);
      this.set({ component: "producer" }, health.producerOk() ? 1 : 0);
    },
  });
  new Gauge({
    name: "scc_kafka_command_leader",
    help: "1 while this instance holds the advisory lock and publishes setpoint commands",
    registers: [registry],
    collect() {
      this.set(health.leader() ? 1 : 0);
    },
  });
  return {
    messages: new Counter({
      name: "scc_kafka_messages_total",
      help: "Kafka input messages by topic and outcome (stored, duplicate: already stored by an earlier delivery, dead_letter)",
      labelNames: ["topic", "outcome"],
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: "scc_kafka_batch_duration_seconds",
      help: "Time to store one Kafka batch (one database transaction) and commit its offset",
      labelNames: ["topic"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ingestRetries: new Counter({
      name: "scc_kafka_ingest_retries_total",
      help: "Kafka batches retried because the database or Kafka failed (offsets stay uncommitted meanwhile)",
      labelNames: ["topic", "reason"],
      registers: [registry],
    }),
    dlqPublished: new Counter({
      name: "scc_kafka_dlq_published_total",
      help: "Bad messages published to <topic>.dlq",
      labelNames: ["topic"],
      registers: [registry],
    }),
    dlqPublishFailures: new Counter({
      name: "scc_kafka_dlq_publish_failures_total",
      help: "Bad messages kept only in the dead_letters table because <topic>.dlq could not be written",
      labelNames: ["topic"],
      registers: [registry],
    }),
    commandsPublished: new Counter({
      name: "scc_kafka_commands_published_total",
      help: "Setpoint commands acknowledged by Kafka",
      labelNames: ["topic"],
      registers: [registry],
    }),
    commandPublishFailures: new Counter({
      name: "scc_kafka_command_publish_failures_total",
      help: "Failed attempts to publish a transaction of setpoint commands (retried; the slot holds them)",
      labelNames: ["topic"],
      registers: [registry],
    }),
  };
}

/**
 * The database refused the data itself (a data exception or an integrity constraint): retrying
 * the same rows will not help, so they are parked as dead letters. Anything else (connection
 * lost, server shutting down, a table missing, a deadlock, ...) is the database's problem, not
 * the message's: the batch is retried and its offsets stay uncommitted.
 */
export function isDataError(error: unknown): boolean {
  const code = sqlState(error);
  return code !== undefined && (code.startsWith("22") || code.startsWith("23"));
}

/** A short stable digest (slot names). */
export function shortHash(text: string): string {
  return createHash("sha1").update(text).digest("hex").slice(0, 8);
}
