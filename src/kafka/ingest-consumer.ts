// The Kafka consumer of the four input streams (SPEC §2).
//
// - One consumer group, manual commits: eachBatch with eachBatchAutoResolve false and autoCommit
//   false, large fetches, and every topic-partition batch of a fetch handled at once. A batch is
//   decoded and validated message by message and handed to its stream's merger
//   (stream-merger.ts), which stores the batches of all the partitions this instance owns in ONE
//   database transaction per stream (up to KAFKA_BATCH_MAX_MESSAGES messages, after waiting at
//   most KAFKA_BATCH_WAIT_MS for the other partitions' batches), through the ingest repository
//   (the same code path as GraphQL). One transaction per stream at a time; kafkajs hands out a
//   partition's next batch only after the previous one returned, so a partition's messages are
//   stored in order. Each batch's offset is committed only after the transaction holding its
//   messages committed. A crash in between redelivers the batch, and kafka_ingest_positions (the
//   next offset to store per topic-partition) turns the replay into a no-op.
// - A bad message (empty, not UTF-8, not JSON, not an object, anything validation rejects, or a
//   row the database refuses as data) is parked in dead_letters in the same transaction and
//   published to `<topic>.dlq` with the reason in the x-dlq-reason header. It never blocks its
//   partition: the good messages around it are stored and the offset moves on.
// - The database failing (down, restarting, a table missing, a deadlock) is not the message's
//   fault: the merged transaction is retried in place with backoff, heartbeating so the group
//   keeps the partitions, and the offsets stay uncommitted; nothing goes to the dead letters for
//   it. A partition revoked meanwhile (another instance took it) is dropped from the retry and
//   left uncommitted for its new owner.
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
import { StreamMerger } from "./stream-merger.js";
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
/**
 * Batches handled at once (one per topic-partition of a fetch). More than the partitions this
 * instance is assigned, so every batch of one fetch is in hand together and can be merged.
 */
const PARTITIONS_CONCURRENTLY = 64;

/** How the partitions' messages of one stream are merged into one transaction. */
export interface BatchLimits {
  /** At most this many messages per transaction (a larger partition batch is split). */
  readonly maxMessages: number;
  /** Wait this long after the first piece for the other partitions' pieces before storing. */
  readonly waitMs: number;
}

export interface IngestConsumerOptions {
  kafka: Kafka;
  kinds: ReadonlyMap<string, StreamKind>;
  groupId: string;
  batch: BatchLimits;
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

/** A slice of one topic-partition batch, handed to its stream's merger. */
interface Piece<K extends StreamKind = StreamKind> {
  readonly kind: K;
  readonly topic: string;
  readonly partition: number;
  readonly payload: EachBatchPayload;
  readonly size: number;
  readonly goods: Good<K>[];
  readonly bads: DeadLetter[];
}

/** What a flush did with one piece. */
type PieceOutcome =
  | {
      stored: true;
      dead: DeadLetter[];
      /** Dead letters not yet on `<topic>.dlq` (a redelivered one that was published before is not sent again). */
      toPublish: DeadLetter[];
    }
  /** Its partition was revoked or the consumer is stopping: not stored, not committed, redelivered. */
  | { stored: false };

/** One committed flush: rows new to the database, rows already there (a replay), each piece's outcome. */
interface Written<K extends StreamKind> {
  stored: number;
  duplicates: number;
  results: Map<Piece<K>, PieceOutcome>;
}

/** Thrown to leave a batch unfinished: nothing committed, it is redelivered. */
class Abandoned extends Error {}

export class IngestConsumer {
  private consumer: Consumer | null = null;
  private stopped = true;
  private joined = false;
  /** Streams whose flush is retrying because the database or Kafka failed. */
  private readonly failing = new Set<string>();
  private restartTimer: NodeJS.Timeout | null = null;
  private restarts = 0;
  private stopSignal = new AbortController();
  private readonly log: Logger;
  private readonly mergers = new Map<StreamKind, StreamMerger<Piece, PieceOutcome>>();

  constructor(private readonly options: IngestConsumerOptions) {
    this.log = options.logger;
    const { maxMessages, waitMs } = options.batch;
    for (const kind of new Set(options.kinds.values())) {
      this.mergers.set(kind, new StreamMerger((pieces) => this.flush(kind, pieces), maxMessages, waitMs));
    }
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
      // A dead member is noticed after sessionTimeout; long transactions keep heartbeating (see flush()).
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 1_000,
      // Large fetches: a fetch's batches are merged per stream (up to batch.maxMessages per transaction).
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 16 * 1024 * 1024,
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
        // kafkajs never hands two batches of one partition out at once, and fetches again only
        // after every batch of a fetch is handled: a partition's batches stay in order.
        partitionsConsumedConcurrently: PARTITIONS_CONCURRENTLY,
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

  /** Splits a partition's batch into pieces of at most batch.maxMessages, decoded and validated. */
  private pieces<K extends StreamKind>(kind: K, payload: EachBatchPayload): Piece<K>[] {
    const { batch } = payload;
    const { maxMessages } = this.options.batch;
    const now = Date.now();
    const pieces: Piece<K>[] = [];
    for (let from = 0; from < batch.messages.length; from += maxMessages) {
      const messages = batch.messages.slice(from, from + maxMessages);
      const goods: Good<K>[] = [];
      const bads: DeadLetter[] = [];
      for (const message of messages) {
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
      pieces.push({
        kind,
        topic: batch.topic,
        partition: batch.partition,
        payload,
        size: messages.length,
        goods,
        bads,
      });
    }
    return pieces;
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const kind = this.options.kinds.get(batch.topic);
    const merger = kind && this.mergers.get(kind);
    const last = batch.messages[batch.messages.length - 1];
    if (!kind || !merger || !last) return;
    // Handed to the stream's merger synchronously: the other partitions' batches of this fetch
    // arrive in the same turn of the event loop and go into the same transaction.
    const outcomes = await Promise.all(this.pieces(kind, payload).map((piece) => merger.add(piece)));
    const dead: DeadLetter[] = [];
    const toPublish: DeadLetter[] = [];
    for (const outcome of outcomes) {
      if (!outcome.stored) return; // stopping or rebalanced: not committed, redelivered
      dead.push(...outcome.dead);
      toPublish.push(...outcome.toPublish);
    }
    try {
      if (toPublish.length > 0) {
        const { dlq: producer, db, logger, metrics } = this.options;
        await this.withHeartbeat(payload, () =>
          publishDeadLetters(
            { producer, db, logger, metrics },
            batch.topic,
            batch.partition,
            toPublish,
            this.batchControl(payload),
          ),
        );
      }
      // Everything in the batch is stored (or parked): only now may the group move on.
      payload.resolveOffset(last.offset);
      await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets());
    } catch (error) {
      if (error instanceof Abandoned) return; // stopping or rebalanced: not committed, redelivered
      throw error;
    } finally {
      this.failing.delete(`dlq:${batch.topic}:${batch.partition}`);
    }
    if (dead.length > 0) {
      this.options.metrics.messages.inc({ topic: batch.topic, outcome: "dead_letter" }, dead.length);
      this.log.warn(
        {
          topic: batch.topic,
          partition: batch.partition,
          deadLetters: dead.slice(0, 10).map((d) => ({ offset: d.message.offset, reason: d.reason })),
          count: dead.length,
        },
        "kafka messages rejected and parked as dead letters",
      );
    }
  }

  private owned(payload: EachBatchPayload): boolean {
    return !this.stopped && payload.isRunning() && !payload.isStale();
  }

  private checkStillOwned(payload: EachBatchPayload): void {
    if (!this.owned(payload)) throw new Abandoned("batch abandoned");
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

  /** Runs fn while heartbeating, so a long transaction or a retry loop keeps the partitions. */
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

  /** The retry hooks of one batch's DLQ publishing: leave it when no longer ours, heartbeat before each retry. */
  private batchControl(payload: EachBatchPayload): BatchControl {
    const key = `dlq:${payload.batch.topic}:${payload.batch.partition}`;
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

  /**
   * Stores the pieces of one stream (several partitions) in ONE transaction, retrying while the
   * database fails. Before each attempt the pieces whose partition is no longer ours are dropped
   * (outcome stored: false); with none left, or when stopping, the flush ends.
   */
  private async flush<K extends StreamKind>(kind: K, all: Piece<K>[]): Promise<PieceOutcome[]> {
    const started = performance.now();
    const { db, metrics } = this.options;
    const topic = all[0]?.topic ?? "";
    const outcomes = new Map<Piece<K>, PieceOutcome>(all.map((p) => [p, { stored: false }]));
    let live = all.filter((p) => this.owned(p.payload));
    const key = `flush:${kind}`;
    let oneByOne = false;
    const attempt = async (): Promise<Written<K>> => {
      if (!oneByOne) {
        try {
          return await db.transaction().execute((trx) => this.write(trx, kind, live, false));
        } catch (error) {
          if (!isDataError(error)) throw error;
          // One of the rows is refused by the database itself: find it, message by message.
          this.log.warn({ topic, err: errorMessage(error) }, "database refused a batch; storing it message by message");
          oneByOne = true;
        }
      }
      return db.transaction().execute((trx) => this.write(trx, kind, live, true));
    };
    const pumpFor = () => live.find((p) => this.owned(p.payload))?.payload;
    const pump = setInterval(() => {
      pumpFor()
        ?.heartbeat()
        .catch(() => {}); // a rebalance shows up again before the next attempt or at the commit
    }, HEARTBEAT_PUMP_MS);
    try {
      if (live.length === 0) return all.map((p) => outcomes.get(p) as PieceOutcome);
      const written = await retry(attempt, {
        minMs: 200,
        maxMs: 5000,
        signal: this.stopSignal.signal,
        beforeAttempt: async (n) => {
          if (n > 0) {
            const payload = pumpFor();
            if (payload) await this.heartbeatOrAbandon(payload);
          }
          live = live.filter((p) => this.owned(p.payload));
          if (live.length === 0) throw new Abandoned("every partition of the flush was revoked");
        },
        onFailure: (error, n, delay) => {
          if (error instanceof Abandoned) throw error;
          this.failing.add(key);
          metrics.ingestRetries.inc({ topic, reason: "database" });
          const log = n === 0 || n % 10 === 0 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
          log(
            {
              topic,
              partitions: [...new Set(live.map((p) => p.partition))],
              messages: live.reduce((sum, p) => sum + p.size, 0),
              attempt: n,
              retryInMs: delay,
              err: errorMessage(error),
            },
            "could not store a kafka batch (offsets not committed); retrying",
          );
        },
      });
      for (const [piece, outcome] of written.results) outcomes.set(piece, outcome);
      if (written.stored > 0) metrics.messages.inc({ topic, outcome: "stored" }, written.stored);
      if (written.duplicates > 0) metrics.messages.inc({ topic, outcome: "duplicate" }, written.duplicates);
      metrics.batchDuration.observe({ topic }, (performance.now() - started) / 1000);
    } catch (error) {
      if (!(error instanceof Abandoned)) throw error;
      for (const p of all) outcomes.set(p, { stored: false });
    } finally {
      clearInterval(pump);
      this.failing.delete(key);
    }
    return all.map((p) => outcomes.get(p) as PieceOutcome);
  }

  /** One attempt of a flush: the rows, the refused ones and the dead letters of every piece. */
  private async write<K extends StreamKind>(
    trx: Transaction<Database>,
    kind: K,
    pieces: Piece<K>[],
    oneByOne: boolean,
  ): Promise<Written<K>> {
    const insert = inserter(kind);
    const pieceOf = new Map<KafkaMessage, Piece<K>>();
    const dead = new Map<Piece<K>, DeadLetter[]>();
    for (const p of pieces) {
      dead.set(p, [...p.bads]);
      for (const g of p.goods) pieceOf.set(g.message, p);
    }
    const park = (letter: DeadLetter) => dead.get(pieceOf.get(letter.message) as Piece<K>)?.push(letter);
    let goods = pieces.flatMap((p) => p.goods);
    if (kind === "sessionSamples") {
      const moves = await sessionMoves(trx, goods as Good<"sessionSamples">[]);
      moves.forEach(park);
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
          park({ message: good.message, reason: `rejected by the database: ${errorMessage(error)}` });
          accepted -= 1;
        }
      }
    }
    const results = new Map<Piece<K>, PieceOutcome>();
    for (const [piece, letters] of dead) {
      const toPublish = await insertDeadLetters(trx, piece.topic, piece.partition, letters);
      results.set(piece, { stored: true, dead: letters, toPublish });
    }
    return { stored, duplicates: accepted - stored, results };
  }
}
