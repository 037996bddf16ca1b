// The failsafe topic (SPEC §11 "Failsafe", docs/kafka.md): one message per site whose failsafe
// profiles changed (site_failsafe.version > published_version; refresh_failsafe in sql/035 bumps
// the version and notifies `scc_failsafe`). At least once: published_version moves only after
// Kafka acknowledged the message, so a crash or a Kafka outage re-sends, never skips; consumers
// keep the highest `version` per site. One instance publishes at a time (a transaction-level
// advisory lock); no row is locked while Kafka is waited for, so ingest never waits on Kafka.
// Woken by the notification, and every few seconds anyway (a notification sent while this
// instance was disconnected is not lost: the sweep finds the row).
import type { Kafka } from "kafkajs";
import { Partitioners } from "kafkajs";
import pg from "pg";
import type { Logger } from "pino";
import { ManagedProducer } from "../kafka/managed-producer.js";
import { camelToSnake } from "../lib/case.js";
import { errorMessage } from "../lib/errors.js";
import type { FailsafeProfile } from "./chargepoints.js";

/** pg_try_advisory_xact_lock key of the failsafe publisher (per database). */
export const FAILSAFE_LOCK_KEY = 727_274_014;
/** Sites per round. */
const BATCH = 100;

export interface FailsafePublisherOptions {
  kafka: Kafka;
  topic: string;
  pool: pg.Pool;
  connectionString: string;
  logger: Logger;
  /** The sweep interval (ms). */
  intervalMs?: number;
}

interface PendingRow {
  site_id: string;
  version: string;
  cap_kw: number | null;
  updated_at: Date;
  profiles: FailsafeProfile[];
}

/** The JSON value of a failsafe message: the site, the version, and every connector's profile. */
export function failsafeMessage(row: PendingRow): Record<string, unknown> {
  return {
    site_id: row.site_id,
    version: Number(row.version),
    ev_cap_kw: row.cap_kw,
    changed_ts: row.updated_at.toISOString(),
    profiles: row.profiles.map((p) =>
      Object.fromEntries(Object.entries(p).map(([key, value]) => [camelToSnake(key), value])),
    ),
  };
}

export class FailsafePublisher {
  private readonly log: Logger;
  private readonly producer: ManagedProducer;
  private listener: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private round: Promise<void> = Promise.resolve();
  private again = false;
  private busy = false;
  /** Messages sent since start (for tests and logs). */
  sent = 0;

  constructor(private readonly options: FailsafePublisherOptions) {
    this.log = options.logger.child({ component: "failsafe-publisher" });
    this.producer = new ManagedProducer(options.kafka, {
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    });
  }

  async start(): Promise<void> {
    this.running = true;
    await this.listen().catch((error: unknown) =>
      this.log.warn({ err: errorMessage(error) }, "failsafe: LISTEN failed; relying on the sweep"),
    );
    this.timer = setInterval(() => this.wake(), this.options.intervalMs ?? 5000);
    this.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.round.catch(() => {});
    await this.listener?.end().catch(() => {});
    this.listener = null;
    await this.producer.close();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString });
    client.on("error", (error) => {
      this.log.warn({ err: errorMessage(error) }, "failsafe: notification connection lost");
      if (this.listener === client) this.listener = null;
    });
    client.on("notification", () => this.wake());
    await client.connect();
    await client.query("LISTEN scc_failsafe");
    this.listener = client;
  }

  /** Runs a round now, or once more after the one in progress. */
  wake(): void {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.round = (async () => {
      try {
        do {
          this.again = false;
          if (this.listener === null) await this.listen().catch(() => {});
          while (this.running && (await this.publishBatch()) === BATCH) {}
        } while (this.again && this.running);
      } catch (error) {
        this.log.warn({ err: errorMessage(error) }, "failsafe: publishing failed; retrying at the next sweep");
      } finally {
        this.busy = false;
      }
    })();
  }

  /** Publishes up to BATCH changed sites; returns how many. */
  private async publishBatch(): Promise<number> {
    const client = await this.options.pool.connect();
    try {
      await client.query("BEGIN");
      const { rows: lock } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS ok", [
        FAILSAFE_LOCK_KEY,
      ]);
      if (!lock[0]?.ok) {
        await client.query("ROLLBACK");
        return 0;
      }
      const { rows } = await client.query<PendingRow>(
        `SELECT site_id, version, cap_kw, updated_at, profiles FROM site_failsafe
         WHERE version > published_version ORDER BY site_id LIMIT $1`,
        [BATCH],
      );
      if (rows.length > 0) {
        await this.producer.send({
          topic: this.options.topic,
          acks: -1,
          messages: rows.map((row) => ({ key: row.site_id, value: JSON.stringify(failsafeMessage(row)) })),
        });
        await client.query(
          `UPDATE site_failsafe f SET published_version = greatest(f.published_version, p.version)
           FROM unnest($1::text[], $2::int8[]) AS p (site_id, version) WHERE f.site_id = p.site_id`,
          [rows.map((r) => r.site_id), rows.map((r) => r.version)],
        );
        this.sent += rows.length;
      }
      await client.query("COMMIT");
      return rows.length;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }
}
