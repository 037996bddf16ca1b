// The Kafka consumer of the four input streams (SPEC §2).
//
// - One consumer group, manual commits: eachBatch with eachBatchAutoResolve false and autoCommit
//   false. A batch (one topic-partition) is decoded and validated message by message, then stored
//   in ONE database transaction through the ingest repository (the same code path as GraphQL);
//   its offset is committed only after that transaction committed. A crash in between redelivers
//   the batch, and kafka_ingest_positions (the next offset to store per topic-partition) turns
//   the replay into a no-op.
// - A bad message (empty, not UTF-8, not JSON, not an object, anything validation rejects, or a
//   row the database refuses as data) is parked in dead_letters in the same transaction and
//   published to `<topic>.dlq` with the reason in the x-dlq-reason header. It never blocks its
//   partition: the good messages around it are stored and the offset moves on.
// - The database failing (down, restarting, a table missing, a deadlock) is not the message's
//   fault: the batch is retried in place with backoff, heartbeating so the group keeps the
//   partition, and its offset stays uncommitted; nothing goes to the dead letters for it.
//
// The dead_letters SQL is in dead-letter.repository.ts, publishing to `<topic>.dlq` in
// dlq-publisher.ts.
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { sql, type Transaction } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../db/pool.js";
import type { Database } from "../db/types.js";
import { insertStream, type KafkaOrigin, type Origin } from "../ingest/ingest.repository.js";
import { INPUT_STREAMS, type InputStream } from "../ingest/streams.js";
import { errorMessage } from "../lib/errors.js";
import { backoffMs, retry } from "../lib/retry.js";
import { findSessionSites } from "../sessions/sessions.repository.js";
import { type DeadLetter, insertDeadLetters } from "./dead-letter.repository.js";
import { type BatchControl, publishDeadLetters } from "./dlq-publisher.js";
import type { ManagedProducer } from "./managed-producer.js";
import { decodeMessage, type StreamKind, type StreamValues } from "./messages.js";
import { isDataError, type KafkaMetrics } from "./support.js";

/**
 * Samples that would move a session to another site. Kafka producers (OCPP gateways) write for
 * every site, so a sample naming another site's session id is refused here rather than letting
 * it take the session over; a move is an explicit GraphQL call by a key allowed at both sites.
 */
async function sessionMoves(trx: Transaction<Database>, goods: Good<"sessionSamples">[]): Promise<DeadLetter[]> {
  const stored = await findSessionSites(
    trx,
    goods.map((g) => g.value.sessionId),
  );
  return goods
    .filter((g) => {
      const site = stored.get(g.value.sessionId);
      return site !== undefined && site !== g.value.siteId;
    })
    .map((g) => ({
      message: g.message,
      reason: `site_id: session ${g.value.sessionId} belongs to another site; a sample may not move it (moving a session is an explicit recordSessionSample by a key allowed at both sites)`,
    }));
}

type Insert<K extends StreamKind> = (db: Db, rows: readonly StreamValues[K][], origin: Origin) => Promise<number>;

function inserter<K extends StreamKind>(kind: K): Insert<K> {
  const stream = INPUT_STREAMS[kind] as InputStream<StreamValues[K]>;
  return (db, rows, origin) => insertStream(db, stream, rows, origin);
}

const HEARTBEAT_PUMP_MS = 1_000;

export interface IngestConsumerOptions {
  kafka: Kafka;
  kinds: ReadonlyMap<string, StreamKind>;
  groupId: string;
  db: Db;
  logger: Logger;
  metrics: KafkaMetrics;
  dlq: ManagedProducer;
}

interface Good<K extends StreamKind> {
  value: StreamValues[K];
  position: KafkaOrigin;
  message: KafkaMessage;
}

interface Stored {
  stored: number;
  duplicates: number;
  dead: DeadLetter[];
  /** Dead letters not yet on `<topic>.dlq` (a redelivered one that was published before is not sent again). */
  toPublish: DeadLetter[];
}

/** Thrown to leave a batch unfinished: nothing committed, it is redelivered. */
class Abandoned extends Error {}

export class IngestConsumer {
  private consumer: Consumer | null = null;
  private stopped = true;
  private joined = false;
  /** Batches currently retrying because the database or Kafka failed. */
  private readonly failing = new Set<string>();
  private restartTimer: NodeJS.Timeout | null = null;
  private restarts = 0;
  private stopSignal = new AbortController();
  private readonly log: Logger;

  constructor(private readonly options: IngestConsumerOptions) {
    this.log = options.logger;
  }

  /** In its group and not stuck on a failing database. */
  get up(): boolean {
    return !this.stopped && this.joined && this.failing.size === 0;
  }

  async start(): Promise<void> {
    if (!this.stopped) throw new Error("consumer already started");
    this.stopped = false;
    this.stopSignal = new AbortController();
    await this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.stopSignal.abort();
    const consumer = this.consumer;
    this.consumer = null;
    this.joined = false;
    await consumer?.disconnect().catch((error: unknown) => {
      this.log.warn({ err: errorMessage(error) }, "kafka consumer did not disconnect cleanly");
    });
  }

  private async run(): Promise<void> {
    const { kafka, groupId, kinds } = this.options;
    const consumer = kafka.consumer({
      groupId,
      // A dead member is noticed after sessionTimeout; long transactions keep heartbeating (see store()).
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 1_000,
      retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (this.consumer !== consumer) return;
      this.joined = true;
      this.restarts = 0;
      this.log.info(
        { groupId, memberId: payload.memberId, assignment: payload.memberAssignment },
        "kafka consumer joined its group",
      );
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.consumer !== consumer) return;
      this.joined = false;
      this.log.error({ err: errorMessage(payload.error), restart: payload.restart }, "kafka consumer crashed");
      // kafkajs restarts it by itself for retriable errors; otherwise we start a new one.
      if (!payload.restart) this.scheduleRestart(consumer);
    });
    consumer.on(consumer.events.STOP, () => {
      if (this.consumer === consumer) this.joined = false;
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...kinds.keys()], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.handleBatch(payload),
      });
    } catch (error) {
      if (this.stopped || this.consumer !== consumer) return;
      this.log.error({ err: errorMessage(error) }, "kafka consumer could not start; retrying");
      this.scheduleRestart(consumer);
    }
  }

  private scheduleRestart(consumer: Consumer): void {
    if (this.stopped || this.restartTimer || this.consumer !== consumer) return;
    const delay = backoffMs(this.restarts++, 1000, 30_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopped || this.consumer !== consumer) return;
      this.consumer = null;
      void consumer
        .disconnect()
        .catch(() => {})
        .then(() => {
          if (!this.stopped) return this.run();
        });
    }, delay);
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const kind = this.options.kinds.get(batch.topic);
    const last = batch.messages[batch.messages.length - 1];
    if (!kind || !last) return;
    const started = performance.now();
    const goods: Good<StreamKind>[] = [];
    const bads: DeadLetter[] = [];
    const now = Date.now();
    for (const message of batch.messages) {
      const decoded = decodeMessage(kind, message.value, now);
      if (decoded.ok) {
        goods.push({
          value: decoded.value,
          message,
          position: { topic: batch.topic, partition: batch.partition, offset: message.offset },
        });
      } else {
        bads.push({ message, reason: decoded.reason });
      }
    }
    const key = `${batch.topic}:${batch.partition}`;
    try {
      const result = await this.store(payload, kind, goods, bads);
      if (result.toPublish.length > 0) {
        const { dlq: producer, db, logger, metrics } = this.options;
        await this.withHeartbeat(payload, () =>
          publishDeadLetters(
            { producer, db, logger, metrics },
            batch.topic,
            batch.partition,
            result.toPublish,
            this.batchControl(payload),
          ),
        );
      }
      // Everything in the batch is stored (or parked): only now may the group move on.
      payload.resolveOffset(last.offset);
      await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets());
      this.failing.delete(key);
      const { messages } = this.options.metrics;
      if (result.stored > 0) messages.inc({ topic: batch.topic, outcome: "stored" }, result.stored);
      if (result.duplicates > 0) messages.inc({ topic: batch.topic, outcome: "duplicate" }, result.duplicates);
      if (result.dead.length > 0) {
        messages.inc({ topic: batch.topic, outcome: "dead_letter" }, result.dead.length);
        this.log.warn(
          {
            topic: batch.topic,
            partition: batch.partition,
            deadLetters: result.dead.slice(0, 10).map((d) => ({ offset: d.message.offset, reason: d.reason })),
            count: result.dead.length,
          },
          "kafka messages rejected and parked as dead letters",
        );
      }
      this.options.metrics.batchDuration.observe({ topic: batch.topic }, (performance.now() - started) / 1000);
    } catch (error) {
      this.failing.delete(key);
      if (error instanceof Abandoned) return; // stopping or rebalanced: not committed, redelivered
      throw error;
    }
  }

  private checkStillOwned(payload: EachBatchPayload): void {
    if (this.stopped || !payload.isRunning() || payload.isStale()) throw new Abandoned("batch abandoned");
  }

  private async heartbeatOrAbandon(payload: EachBatchPayload): Promise<void> {
    this.checkStillOwned(payload);
    try {
      await payload.heartbeat();
    } catch (error) {
      this.log.info(
        { topic: payload.batch.topic, partition: payload.batch.partition, err: errorMessage(error) },
        "leaving a batch uncommitted to rejoin the group",
      );
      throw error; // kafkajs rejoins on a rebalance error; the batch is fetched again
    }
  }

  /** Runs fn while heartbeating, so a long transaction or a retry loop keeps the partition. */
  private async withHeartbeat<T>(payload: EachBatchPayload, fn: () => Promise<T>): Promise<T> {
    const pump = setInterval(() => {
      payload.heartbeat().catch(() => {}); // a rebalance shows up again at the commit
    }, HEARTBEAT_PUMP_MS);
    try {
      return await fn();
    } finally {
      clearInterval(pump);
    }
  }

  /** The retry hooks of one batch: leave it when no longer ours, heartbeat before each retry. */
  private batchControl(payload: EachBatchPayload): BatchControl {
    const key = `${payload.batch.topic}:${payload.batch.partition}`;
    return {
      beforeAttempt: async (attempt) => {
        // A rebalance shows up here: the handler returns (uncommitted) so the consumer can rejoin.
        if (attempt > 0) await this.heartbeatOrAbandon(payload);
        this.checkStillOwned(payload);
      },
      retrying: () => this.failing.add(key),
      signal: this.stopSignal.signal,
    };
  }

  private async store<K extends StreamKind>(
    payload: EachBatchPayload,
    kind: K,
    goods: Good<K>[],
    bads: DeadLetter[],
  ): Promise<Stored> {
    const { topic, partition } = payload.batch;
    const { db, metrics } = this.options;
    const control = this.batchControl(payload);
    let oneByOne = false;
    const attempt = async (): Promise<Stored> => {
      if (!oneByOne) {
        try {
          return await db.transaction().execute((trx) => this.write(trx, kind, topic, partition, goods, bads, false));
        } catch (error) {
          if (!isDataError(error)) throw error;
          // One of the rows is refused by the database itself: find it, message by message.
          this.log.warn(
            { topic, partition, err: errorMessage(error) },
            "database refused a batch; storing it message by message",
          );
          oneByOne = true;
          this.checkStillOwned(payload);
        }
      }
      return db.transaction().execute((trx) => this.write(trx, kind, topic, partition, goods, bads, true));
    };
    return this.withHeartbeat(payload, () =>
      retry(attempt, {
        minMs: 200,
        maxMs: 5000,
        signal: control.signal,
        beforeAttempt: control.beforeAttempt,
        onFailure: (error, attempt, delay) => {
          if (error instanceof Abandoned) throw error;
          control.retrying();
          metrics.ingestRetries.inc({ topic, reason: "database" });
          const log =
            attempt === 0 || attempt % 10 === 0 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
          log(
            {
              topic,
              partition,
              firstOffset: payload.batch.firstOffset(),
              attempt,
              retryInMs: delay,
              err: errorMessage(error),
            },
            "could not store a kafka batch (offsets not committed); retrying",
          );
        },
      }),
    );
  }

  private async write<K extends StreamKind>(
    trx: Transaction<Database>,
    kind: K,
    topic: string,
    partition: number,
    goods: Good<K>[],
    bads: DeadLetter[],
    oneByOne: boolean,
  ): Promise<Stored> {
    const insert = inserter(kind);
    const dead = [...bads];
    if (kind === "sessionSamples") {
      const moves = await sessionMoves(trx, goods as Good<"sessionSamples">[]);
      dead.push(...moves);
      const refused = new Set(moves.map((m) => m.message));
      goods = goods.filter((g) => !refused.has(g.message));
    }
    let stored = 0;
    let accepted = goods.length;
    if (!oneByOne) {
      stored = await insert(
        trx,
        goods.map((g) => g.value),
        { source: "kafka", positions: goods.map((g) => g.position) },
      );
    } else {
      for (const good of goods) {
        await sql`SAVEPOINT scc_kafka_message`.execute(trx);
        try {
          stored += await insert(trx, [good.value], { source: "kafka", positions: [good.position] });
          await sql`RELEASE SAVEPOINT scc_kafka_message`.execute(trx);
        } catch (error) {
          if (!isDataError(error)) throw error;
          await sql`ROLLBACK TO SAVEPOINT scc_kafka_message`.execute(trx);
          dead.push({ message: good.message, reason: `rejected by the database: ${errorMessage(error)}` });
          accepted -= 1;
        }
      }
    }
    const toPublish = await insertDeadLetters(trx, topic, partition, dead);
    return { stored, duplicates: accepted - stored, dead, toPublish };
  }
}
