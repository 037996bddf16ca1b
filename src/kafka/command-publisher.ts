// The Kafka sink of setpoint commands (SPEC §5, docs/feed.md): the outbox, read by cursor,
// published to the command topic in batches, at least once. No replication slot: the publisher's
// position is a cursor in the database (feed_positions), so a service that runs without Kafka for
// a while, a lost slot or a crash loses nothing the outbox still keeps (the retention).
//
// Leadership: one instance per database publishes. It holds a session-level advisory lock
// (pg_try_advisory_lock) on a dedicated connection; the others retry every few seconds and take
// over when the leader's session ends (process killed, connection lost, stopped). The position is
// saved through that same connection, so an instance that lost the lock cannot move it.
//
// At-least-once: a batch (up to BATCH commands, in cursor order) is sent with acks=all on an
// idempotent producer; only once Kafka acknowledged all of it is the position moved to its last
// cursor. A crash in between publishes the batch again; consumers de-duplicate by command_id (or
// by cursor). The leader reads the outbox when the live feed (the fan-out) says commands were
// committed, and every pollIntervalMs anyway.
import type { Kafka, Message } from "kafkajs";
import { Partitioners } from "kafkajs";
import pg from "pg";
import type { Logger } from "pino";
import { createDb, type Db } from "../db/pool.js";
import { feedHorizon, readCommands } from "../feed/feed.repository.js";
import { errorMessage } from "../lib/errors.js";
import { retry } from "../lib/retry.js";
import { withTimeout } from "../lib/timeout.js";
import type { Metrics } from "../ops/metrics.js";
import type { SetpointCommand } from "../setpoints/command.js";
import type { Fanout } from "../stream/fanout.js";
import { ManagedProducer } from "./managed-producer.js";
import { commandMessage } from "./messages.js";
import type { KafkaMetrics } from "./support.js";

/** pg_try_advisory_lock key of the command publisher (per database; migrations use 727274001). */
export const LEADER_LOCK_KEY = 727_274_002;
/** The durable slot earlier versions read the outbox through: dropped when found (it would pin WAL). */
const LEGACY_SLOT_PREFIX = "scc_kafka_commands_";
/** Commands per batch (one produce request). */
export const BATCH = 500;
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
  /** The live feed of this process: the leader reads the outbox as soon as commands are committed. */
  fanout?: Fanout;
  /** A non-leader tries to take over this often (ms, with jitter). */
  retryIntervalMs?: number;
  /** The leader checks its lock connection this often (ms). */
  checkIntervalMs?: number;
  /** The leader reads the outbox at least this often (ms), woken or not. */
  pollIntervalMs?: number;
}

/** The feed_positions row of a command topic. */
export function positionKey(topic: string): string {
  return `kafka:${topic}`;
}

/** Ends a connection without waiting long for a server that does not answer (the socket dies with the process at the latest). */
async function endQuietly(client: pg.Client): Promise<void> {
  await withTimeout(client.end(), 2000, "closing the leadership connection").catch(() => {});
}

export class CommandPublisher {
  private readonly log: Logger;
  private readonly producer: ManagedProducer;
  private readonly db: Db;
  private readonly retryIntervalMs: number;
  private readonly checkIntervalMs: number;
  private readonly pollIntervalMs: number;
  private stopped = true;
  private lockClient: pg.Client | null = null;
  /** Increases at every leadership won or lost: a pump of an older term stops. */
  private term = 0;
  private leading = false;
  private pumping: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Serialises ticks, resignations and stop. */
  private chain: Promise<void> = Promise.resolve();
  private failing = false;
  private tickFailures = 0;
  private wake: (() => void) | null = null;
  private woken = false;
  private readonly unsubscribe: (() => void) | null;
  /** The cursor of the last command Kafka acknowledged (null: not leading). */
  private _position: bigint | null = null;

  constructor(private readonly options: CommandPublisherOptions) {
    this.log = options.logger;
    this.db = createDb(options.pool);
    this.retryIntervalMs = options.retryIntervalMs ?? 3000;
    this.checkIntervalMs = options.checkIntervalMs ?? 5000;
    this.pollIntervalMs = options.pollIntervalMs ?? (options.fanout ? 5000 : 500);
    this.producer = new ManagedProducer(options.kafka, {
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Fail fast: publish() retries for as long as it takes, and reports unhealthy meanwhile.
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    this.unsubscribe =
      options.fanout?.onPublish((events) => {
        if (events.some((e) => e.kind === "command")) this.poke();
      }) ?? null;
  }

  get leader(): boolean {
    return this.leading;
  }

  /** False while publishing to Kafka fails. */
  get ok(): boolean {
    return !this.failing;
  }

  /** The cursor of the last command Kafka acknowledged, while leading. */
  get position(): string | null {
    return this._position === null ? null : this._position.toString();
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
    this.unsubscribe?.();
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
      if (this.leading) await this.check();
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
    this.schedule(this.leading ? this.checkIntervalMs : this.retryIntervalMs);
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
      if (!this.leading) return;
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
      client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [LEADER_LOCK_KEY]),
      10_000,
      "pg_try_advisory_lock",
    );
    if (!rows[0]?.ok) return; // another instance publishes
    if (this.stopped || this.lockClient !== client) {
      await endQuietly(client);
      return;
    }
    await this.dropLegacySlot(client);
    const position = await this.loadPosition(client);
    this.term += 1;
    this.leading = true;
    this._position = position;
    this.log.info(
      { topic: this.options.topic, position: position.toString() },
      "kafka command publisher is the leader: publishing setpoint commands from the outbox",
    );
    const term = this.term;
    this.pumping = this.pump(term, client).catch((error: unknown) => {
      this.log.error({ err: errorMessage(error) }, "kafka command publisher: publishing stopped");
    });
  }

  /** The position of this topic; a topic without one starts at the oldest command kept. */
  private async loadPosition(client: pg.Client): Promise<bigint> {
    const key = positionKey(this.options.topic);
    await client.query(
      `INSERT INTO feed_positions (consumer, cursor)
       SELECT $1, pruned_cursor FROM feed_horizon WHERE feed = 'commands'
       ON CONFLICT (consumer) DO NOTHING`,
      [key],
    );
    const { rows } = await client.query<{ cursor: string }>("SELECT cursor FROM feed_positions WHERE consumer = $1", [
      key,
    ]);
    return BigInt(rows[0]?.cursor ?? 0);
  }

  /** A durable slot of an earlier version pins WAL for ever once nothing reads it: drop it. */
  private async dropLegacySlot(client: pg.Client): Promise<void> {
    const { rows } = await client
      .query<{ slot_name: string }>(
        `SELECT slot_name FROM pg_replication_slots
         WHERE slot_name LIKE $1 AND database = current_database() AND NOT active`,
        [`${LEGACY_SLOT_PREFIX}%`],
      )
      .catch(() => ({ rows: [] as { slot_name: string }[] }));
    for (const { slot_name } of rows) {
      await client.query("SELECT pg_drop_replication_slot($1)", [slot_name]).catch(() => {});
      this.log.warn({ slot: slot_name }, "dropped the durable slot of the old command publisher (no longer read)");
    }
  }

  /** The leader's periodic check: the lock connection answers. */
  private async check(): Promise<void> {
    const client = this.lockClient;
    if (!client) throw new Error("no leadership connection");
    await withTimeout(client.query("SELECT 1"), 5000, "leadership connection check");
  }

  private async resign(why: string): Promise<void> {
    const client = this.lockClient;
    const wasLeading = this.leading;
    this.lockClient = null;
    this.leading = false;
    this.term += 1;
    this.poke();
    if (wasLeading) this.log.info({ why, position: this.position }, "kafka command publisher stops publishing");
    const pumping = this.pumping;
    this.pumping = null;
    // Ending the session releases the advisory lock; the pump of this term sees it and stops.
    if (client) await endQuietly(client);
    await pumping;
    this._position = null;
    this.failing = false;
  }

  private poke(): void {
    this.woken = true;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private waitForWork(): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, this.pollIntervalMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Reads the outbox after the position, publishes, moves the position; until the term ends. */
  private async pump(term: number, client: pg.Client): Promise<void> {
    let failures = 0;
    while (this.term === term && !this.stopped) {
      this.woken = false;
      const position = this._position ?? 0n;
      let batch: SetpointCommand[];
      try {
        const horizon = await feedHorizon(this.db, "commands");
        if (position < horizon) {
          this.log.error(
            { topic: this.options.topic, position: position.toString(), horizon: horizon.toString() },
            "kafka command publisher: commands after the position were pruned (retention) before they were published; going on from the oldest kept",
          );
          await this.savePosition(term, client, horizon);
          continue;
        }
        batch = await readCommands(this.db, position, { siteIds: null }, BATCH);
        failures = 0;
      } catch (error) {
        failures += 1;
        if (failures === 1 || failures % 20 === 0)
          this.log.warn({ err: errorMessage(error) }, "kafka command publisher: could not read the outbox; retrying");
        await this.waitForWork();
        continue;
      }
      if (batch.length === 0) {
        await this.waitForWork();
        continue;
      }
      try {
        await this.send(term, batch);
        const last = batch.at(-1);
        if (last) await this.savePosition(term, client, BigInt(last.cursor));
      } catch (error) {
        if (this.term !== term || this.stopped) return;
        // The position did not move: the batch is read and sent again (at least once).
        this.log.warn({ err: errorMessage(error) }, "kafka command publisher: could not save the position; retrying");
        await this.waitForWork();
        continue;
      }
      if (batch.length === BATCH) this.woken = true; // more to read at once
    }
  }

  /** Moves the position (through the lock connection: only the leader can). */
  private async savePosition(term: number, client: pg.Client, cursor: bigint): Promise<void> {
    if (this.term !== term) throw new Error("no longer the command publisher");
    await client.query(
      "UPDATE feed_positions SET cursor = $2, updated_at = now() WHERE consumer = $1 AND cursor < $2",
      [positionKey(this.options.topic), cursor.toString()],
    );
    this._position = cursor;
  }

  /** Resolves once Kafka acknowledged every command of the batch; retries until then, or until the term ends. */
  private async send(term: number, commands: readonly SetpointCommand[]): Promise<void> {
    const { topic } = this.options;
    const messages: Message[] = commands.map((command) => ({
      key: command.chargePointId,
      value: JSON.stringify(commandMessage(command)),
      headers: { "x-command-id": command.commandId, "x-cursor": command.cursor, "content-type": "application/json" },
    }));
    await retry(
      async () => {
        // A send that hangs (broker unreachable: kafkajs retries connecting for a while) counts as failing.
        const watchdog = setTimeout(() => {
          this.failing = true;
        }, SEND_STALL_MS);
        try {
          await this.producer.send({ topic, acks: -1, messages });
        } finally {
          clearTimeout(watchdog);
        }
        this.failing = false;
        this.options.metrics.commandsPublished.inc({ topic }, messages.length);
      },
      {
        minMs: 200,
        maxMs: 5000,
        beforeAttempt: () => {
          if (this.stopped || this.term !== term)
            throw new Error("no longer the command publisher; the next leader goes on from the saved position");
        },
        onFailure: (error, attempt, delay) => {
          this.failing = true;
          this.options.metrics.commandPublishFailures.inc({ topic });
          const log =
            attempt === 0 || attempt % 10 === 0 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
          log(
            {
              topic,
              position: this.position,
              commands: commands.length,
              attempt,
              retryInMs: delay,
              err: errorMessage(error),
            },
            "could not publish setpoint commands to Kafka (the outbox keeps them); retrying",
          );
        },
      },
    );
  }
}
