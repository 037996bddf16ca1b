// The Kafka sink of setpoint commands (SPEC §5): the outbox, read through a DURABLE logical
// replication slot, published to the command topic, at least once.
//
// Leadership: one instance per database publishes. It holds a session-level advisory lock
// (pg_try_advisory_lock) on a dedicated connection; the others retry every few seconds and take
// over when the leader's session ends (process killed, connection lost, stopped). Losing the lock
// connection stops publishing at once. The slot itself can only be streamed by one connection at
// a time, so even a split second of two "leaders" cannot interleave deliveries.
//
// At-least-once: onTransaction returns only after Kafka acknowledged (acks=all, idempotent
// producer) every command of the transaction, and the change stream confirms the slot position
// only after onTransaction resolved. A crash or a Kafka outage leaves the transaction in the slot;
// it is delivered (again) later. Consumers de-duplicate by command_id.
import type { Kafka, Message } from "kafkajs";
import { Partitioners } from "kafkajs";
import pg from "pg";
import type { Logger } from "pino";
import { errorMessage } from "../lib/errors.js";
import { retry } from "../lib/retry.js";
import { withTimeout } from "../lib/timeout.js";
import type { Metrics } from "../ops/metrics.js";
import {
  type ChangeStream,
  ChangeStreamSetupError,
  createChangeStream,
  slotLagBytes,
} from "../stream/change-stream.js";
import type { ChangeTransaction, SetpointCommandEvent } from "../stream/events.js";
import { ManagedProducer } from "./managed-producer.js";
import { commandMessage } from "./messages.js";
import { type KafkaMetrics, shortHash } from "./support.js";

/** pg_try_advisory_lock key of the command publisher (per database; migrations use 727274001). */
export const LEADER_LOCK_KEY = 727_274_002;
const SLOT_PREFIX = "scc_kafka_commands";
/** Messages per produce request (a huge transaction is sent in slices, all before returning). */
const SEND_CHUNK = 500;
/** A send pending this long makes the publisher unhealthy until one succeeds. */
const SEND_STALL_MS = 5000;

export interface CommandPublisherOptions {
  kafka: Kafka;
  topic: string;
  connectionString: string;
  pool: pg.Pool;
  logger: Logger;
  metrics: KafkaMetrics;
  appMetrics: Metrics;
  /** A non-leader tries to take over this often (ms, with jitter). */
  retryIntervalMs?: number;
  /** The leader checks its lock connection (and the slot lag) this often (ms). */
  checkIntervalMs?: number;
}

/**
 * The durable slot of this database: replication slots are per server, so two databases on one
 * server (or two test databases) must not share a name.
 */
export function commandSlotName(database: string): string {
  const clean = database.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  const name = `${SLOT_PREFIX}_${clean}`;
  if (clean === database && name.length <= 63) return name;
  return `${name.slice(0, 54)}_${shortHash(database)}`;
}

/** Ends a connection without waiting long for a server that does not answer (the socket dies with the process at the latest). */
async function endQuietly(client: pg.Client): Promise<void> {
  await withTimeout(client.end(), 2000, "closing the leadership connection").catch(() => {});
}

export class CommandPublisher {
  private readonly log: Logger;
  private readonly producer: ManagedProducer;
  private readonly retryIntervalMs: number;
  private readonly checkIntervalMs: number;
  private stopped = true;
  private lockClient: pg.Client | null = null;
  private stream: ChangeStream | null = null;
  private slotName: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Serialises ticks, resignations and stop. */
  private chain: Promise<void> = Promise.resolve();
  private failing = false;
  private recreationsSeen = 0;
  private tickFailures = 0;

  constructor(private readonly options: CommandPublisherOptions) {
    this.log = options.logger;
    this.retryIntervalMs = options.retryIntervalMs ?? 3000;
    this.checkIntervalMs = options.checkIntervalMs ?? 5000;
    this.producer = new ManagedProducer(options.kafka, {
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Fail fast: publish() retries for as long as it takes, and reports unhealthy meanwhile.
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    });
  }

  get leader(): boolean {
    return this.stream !== null;
  }

  /** False while publishing to Kafka fails. */
  get ok(): boolean {
    return !this.failing;
  }

  async start(): Promise<void> {
    if (!this.stopped) throw new Error("command publisher already started");
    this.stopped = false;
    await this.enqueue(() => this.tick());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.enqueue(() => this.resign("stopping"));
    await this.producer.close();
    this.failing = false;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.chain.then(task).catch((error: unknown) => {
      this.log.error({ err: errorMessage(error) }, "kafka command publisher: unexpected error");
    });
    this.chain = next;
    return next;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.enqueue(() => this.tick());
      },
      Math.round(ms * (0.8 + Math.random() * 0.4)),
    );
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.stream) await this.check();
      else await this.tryToLead();
      this.tickFailures = 0;
    } catch (error) {
      this.tickFailures += 1;
      // The database being down shows up here every few seconds: say so once, then now and then.
      const level = this.tickFailures === 1 || this.tickFailures % 20 === 0 ? "warn" : "debug";
      this.log[level](
        { err: errorMessage(error), leader: this.leader, failures: this.tickFailures },
        "kafka command publisher: leadership check failed",
      );
      await this.resign("leadership check failed");
    }
    this.schedule(this.stream ? this.checkIntervalMs : this.retryIntervalMs);
  }

  private async connectLockClient(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: "scc-kafka-leader",
      keepAlive: true,
      connectionTimeoutMillis: 5000,
    });
    const lost = (error?: Error) => {
      if (this.lockClient !== client) return;
      this.lockClient = null;
      if (!this.stream) return;
      this.log.warn(
        { err: error ? errorMessage(error) : "connection ended" },
        "lost the leadership connection; stopping publishing",
      );
      void this.enqueue(() => this.resign("lost the leadership connection")).then(() =>
        this.schedule(this.retryIntervalMs),
      );
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
    } catch (error) {
      client.removeAllListeners();
      client.on("error", () => {});
      await endQuietly(client);
      throw error;
    }
    return client;
  }

  private async tryToLead(): Promise<void> {
    this.lockClient ??= await this.connectLockClient();
    const client = this.lockClient;
    const { rows } = await withTimeout(
      client.query<{ ok: boolean; db: string }>("SELECT pg_try_advisory_lock($1) AS ok, current_database() AS db", [
        LEADER_LOCK_KEY,
      ]),
      10_000,
      "pg_try_advisory_lock",
    );
    const row = rows[0];
    if (!row?.ok) return; // another instance publishes
    if (this.stopped || this.lockClient !== client) {
      await endQuietly(client);
      return;
    }
    const slotName = commandSlotName(row.db);
    this.slotName = slotName;
    const stream: ChangeStream = createChangeStream({
      connectionString: this.options.connectionString,
      slotName,
      temporary: false,
      logger: this.log,
      minBackoffMs: 250,
      maxBackoffMs: 10_000,
      onTransaction: (tx) => this.publish(stream, tx),
    });
    this.stream = stream;
    this.recreationsSeen = 0;
    this.log.info(
      { slot: slotName, topic: this.options.topic },
      "kafka command publisher is the leader: publishing setpoint commands",
    );
    try {
      await stream.start();
    } catch (error) {
      // A setup error (publication or slot unusable) will not heal by itself; keep retrying slowly and say so.
      this.log.error(
        { slot: slotName, err: errorMessage(error), setup: error instanceof ChangeStreamSetupError },
        "kafka command publisher: the change stream could not start",
      );
      await this.resign("change stream failed to start");
    }
  }

  /** The leader's periodic check: the lock connection answers; slot lag into the metrics. */
  private async check(): Promise<void> {
    const client = this.lockClient;
    if (!client) throw new Error("no leadership connection");
    await withTimeout(client.query("SELECT 1"), 5000, "leadership connection check");
    const stream = this.stream;
    const slot = this.slotName;
    if (!stream || !slot) return;
    const { appMetrics } = this.options;
    const lag = await slotLagBytes(this.options.pool, slot).catch(() => null);
    if (lag !== null) appMetrics.slotLagBytes.set({ slot }, lag);
    if (stream.slotRecreations > this.recreationsSeen) {
      appMetrics.slotRecreations.inc({ slot }, stream.slotRecreations - this.recreationsSeen);
      this.recreationsSeen = stream.slotRecreations;
    }
  }

  private async resign(why: string): Promise<void> {
    const stream = this.stream;
    const client = this.lockClient;
    this.stream = null;
    this.lockClient = null;
    if (stream) {
      this.log.info({ slot: this.slotName, why }, "kafka command publisher stops publishing");
      await stream
        .stop()
        .catch((error: unknown) => this.log.warn({ err: errorMessage(error) }, "change stream did not stop cleanly"));
    }
    this.failing = false;
    // Ending the session releases the advisory lock (after the slot was let go).
    if (client) await endQuietly(client);
  }

  /** onTransaction of the durable stream: resolves only once Kafka acknowledged every command. */
  private async publish(stream: ChangeStream, tx: ChangeTransaction): Promise<void> {
    const commands = tx.events.filter((e): e is SetpointCommandEvent => e.kind === "command");
    if (commands.length === 0) return;
    const { topic } = this.options;
    const messages: Message[] = commands.map((command) => ({
      key: command.chargePointId,
      value: JSON.stringify(commandMessage(command)),
      headers: { "x-command-id": command.commandId, "content-type": "application/json" },
    }));
    for (let start = 0; start < messages.length; start += SEND_CHUNK) {
      const chunk = messages.slice(start, start + SEND_CHUNK);
      await retry(
        async () => {
          // A send that hangs (broker unreachable: kafkajs retries connecting for a while) counts as failing.
          const watchdog = setTimeout(() => {
            this.failing = true;
          }, SEND_STALL_MS);
          try {
            await this.producer.send({ topic, acks: -1, messages: chunk });
          } finally {
            clearTimeout(watchdog);
          }
          this.failing = false;
          this.options.metrics.commandsPublished.inc({ topic }, chunk.length);
        },
        {
          minMs: 200,
          maxMs: 5000,
          beforeAttempt: () => {
            if (this.stopped || this.stream !== stream)
              throw new Error("no longer the command publisher; the slot redelivers");
          },
          onFailure: (error, attempt, delay) => {
            this.failing = true;
            this.options.metrics.commandPublishFailures.inc({ topic });
            const log =
              attempt === 0 || attempt % 10 === 0 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
            log(
              {
                topic,
                commitLsn: tx.commitLsn,
                commands: commands.length,
                attempt,
                retryInMs: delay,
                err: errorMessage(error),
              },
              "could not publish setpoint commands to Kafka (the slot keeps them); retrying",
            );
            // The connection of this delivery is gone: let the stream reconnect and redeliver.
            if (stream.state !== "streaming") throw error;
          },
        },
      );
    }
  }
}
