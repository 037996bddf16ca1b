// Bounded storage (SPEC §13): the retention job. Every RETENTION_INTERVAL_SECONDS (and once at
// start) it runs run_retention() (sql/090_retention.sql) at the service clock: partitions of each
// table of retention_policies are created ahead and those wholly older than the table's retention
// are DROPPED; then it checks the durable replication slots (slots.ts). The tables and what
// setting bounds each are data (retention_policies), not code.
import type pg from "pg";
import type { Logger } from "pino";
import type { RetentionConfig } from "../config.js";
import { coerceError } from "../lib/errors.js";
import { checkAbandonedSlots, type SlotReport } from "./slots.js";
import type { StorageMetrics } from "./storage-metrics.js";

/** One table's outcome of a retention pass. */
export interface RetentionResult {
  table: string;
  created: number;
  dropped: number;
  deleted: number;
  freedBytes: number;
}

/** The days of each retention setting named in retention_policies.setting. */
export function retentionDays(config: RetentionConfig): Record<string, number> {
  return {
    raw: config.rawDays,
    commands: config.commandsDays,
    alerts: config.alertsDays,
    dead_letters: config.deadLettersDays,
  };
}

/** One retention pass at the service clock (app_now()). */
export async function runRetention(pool: pg.Pool, config: RetentionConfig): Promise<RetentionResult[]> {
  const { rows } = await pool.query<{
    table_name: string;
    created: number;
    dropped: number;
    deleted: string;
    freed_bytes: string;
  }>("SELECT * FROM run_retention($1::jsonb, make_interval(hours => $2), $3)", [
    JSON.stringify(retentionDays(config)),
    config.partitionHours,
    config.partitionsAhead,
  ]);
  return rows.map((r) => ({
    table: r.table_name,
    created: r.created,
    dropped: r.dropped,
    deleted: Number(r.deleted),
    freedBytes: Number(r.freed_bytes),
  }));
}

/** Bytes each bounded table holds (all its partitions and indexes). */
export async function boundedTableBytes(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ table_name: string; bytes: string }>(
    `SELECT p.table_name,
            coalesce((SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(p.table_name::regclass) t),
                     pg_total_relation_size(p.table_name::regclass))::bigint AS bytes
     FROM retention_policies p ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.table_name, Number(r.bytes)]));
}

export interface RetentionJob {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One pass now (also what the timer does): retention, then the slot check. */
  run(): Promise<{ tables: RetentionResult[]; slots: SlotReport[] }>;
}

export function createRetentionJob(options: {
  pool: pg.Pool;
  config: RetentionConfig;
  logger: Logger;
  metrics: StorageMetrics;
}): RetentionJob {
  const { pool, config, logger, metrics } = options;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  let stopped = true;

  async function run() {
    const tables = await runRetention(pool, config);
    for (const t of tables) {
      if (t.created > 0) metrics.partitionsCreated.inc({ table: t.table }, t.created);
      if (t.dropped > 0) metrics.partitionsDropped.inc({ table: t.table }, t.dropped);
      if (t.deleted > 0) metrics.rowsDeleted.inc({ table: t.table }, t.deleted);
      if (t.dropped > 0 || t.deleted > 0)
        logger.info(
          { table: t.table, dropped: t.dropped, deleted: t.deleted, freedBytes: t.freedBytes },
          "retention: old history removed",
        );
    }
    for (const [table, bytes] of Object.entries(await boundedTableBytes(pool)))
      metrics.tableBytes.set({ table }, bytes);
    const slots = await checkAbandonedSlots(pool, {
      dropAfterMs: config.abandonedSlotDropMinutes * 60_000,
      logger,
      metrics,
    });
    metrics.lastRun.set(Date.now() / 1000);
    return { tables, slots };
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(tick, config.intervalSeconds * 1000);
  }

  function tick(): void {
    timer = null;
    running = run()
      .catch((error) => {
        metrics.failures.inc();
        logger.warn({ err: coerceError(error) }, "retention pass failed; retrying at the next interval");
      })
      .finally(() => {
        running = null;
        schedule();
      });
  }

  return {
    async start() {
      stopped = false;
      // The first pass creates today's and the coming partitions before the service takes events.
      await run().catch((error) => {
        metrics.failures.inc();
        logger.warn({ err: coerceError(error) }, "retention pass at start failed; retrying at the next interval");
      });
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
    run,
  };
}
