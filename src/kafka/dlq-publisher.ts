// Publishes a batch's new dead letters to `<topic>.dlq` (original key, value and headers, plus
// the reason and origin). Kafka failing is retried for a while; after that they stay in the
// dead_letters table only (dlq_published_at NULL) and the partition moves on.
import type { Logger } from "pino";
import type { Db } from "../db/pool.js";
import { errorMessage } from "../lib/errors.js";
import { retry } from "../lib/retry.js";
import { type DeadLetter, markDeadLettersPublished } from "./dead-letter.repository.js";
import type { ManagedProducer } from "./managed-producer.js";
import { dlqTopic } from "./messages.js";
import type { KafkaMetrics } from "./support.js";

/** How long a batch keeps trying to publish its dead letters before it moves on (they stay in the table). */
const DLQ_PUBLISH_DEADLINE_MS = 60_000;

/** What a retry loop inside a batch needs from the consumer that owns the batch. */
export interface BatchControl {
  /** Before each attempt: throws when the batch must be left (stopping, rebalanced); heartbeats before a retry. */
  beforeAttempt(attempt: number): Promise<void>;
  /** A retry is under way (the database or Kafka fails): the consumer reports itself down meanwhile. */
  retrying(): void;
  /** Aborts when the consumer stops (cuts a backoff wait short). */
  readonly signal: AbortSignal;
}

export interface DlqPublisherOptions {
  producer: ManagedProducer;
  db: Db;
  logger: Logger;
  metrics: KafkaMetrics;
}

class GaveUp extends Error {}

export async function publishDeadLetters(
  options: DlqPublisherOptions,
  topic: string,
  partition: number,
  dead: readonly DeadLetter[],
  control: BatchControl,
): Promise<void> {
  const { producer, logger: log, metrics } = options;
  const target = dlqTopic(topic);
  const receivedAt = new Date().toISOString();
  const messages = dead.map((d) => ({
    key: d.message.key,
    value: d.message.value,
    headers: {
      ...d.message.headers,
      "x-dlq-reason": d.reason,
      "x-dlq-original-topic": topic,
      "x-dlq-original-partition": String(partition),
      "x-dlq-original-offset": d.message.offset,
      "x-dlq-original-timestamp": d.message.timestamp,
      "x-dlq-received-at": receivedAt,
    },
  }));
  const deadline = Date.now() + DLQ_PUBLISH_DEADLINE_MS;
  try {
    await retry(() => producer.send({ topic: target, acks: -1, messages }), {
      minMs: 200,
      maxMs: 5000,
      signal: control.signal,
      beforeAttempt: (attempt) => control.beforeAttempt(attempt),
      onFailure: (error, attempt) => {
        if (Date.now() > deadline) throw new GaveUp(errorMessage(error));
        control.retrying();
        metrics.ingestRetries.inc({ topic, reason: "dlq" });
        log.warn(
          { topic, dlqTopic: target, attempt, err: errorMessage(error) },
          "could not publish dead letters; retrying",
        );
      },
    });
  } catch (error) {
    if (!(error instanceof GaveUp)) throw error;
    metrics.dlqPublishFailures.inc({ topic }, dead.length);
    log.error(
      { topic, partition, dlqTopic: target, count: dead.length, err: error.message },
      "could not publish dead letters to the DLQ topic; they are kept in the dead_letters table only",
    );
    return;
  }
  metrics.dlqPublished.inc({ topic }, dead.length);
  await markDeadLettersPublished(
    options.db,
    topic,
    partition,
    dead.map((d) => d.message.offset),
  ).catch((error: unknown) => {
    // Worst case the message is published to the DLQ once more after a redelivery.
    log.warn({ topic, err: errorMessage(error) }, "could not mark dead letters as published");
  });
}
