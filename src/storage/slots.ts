// The abandoned-slot rule (SPEC §13): a durable replication slot of ours (logical, pgoutput, this
// database, named scc_*) that nobody reads pins WAL until the disk fills (Kafka turned off, a
// publisher gone for good). Each retention pass reports every such slot (log, metrics: how long
// inactive, WAL retained) and drops it once it has been inactive for ABANDONED_SLOT_DROP_MINUTES
// (0: report only). Real time, not the service clock: it is the disk that fills. A publisher that
// comes back later finds its slot gone, says so and creates it again at the current position.
import type pg from "pg";
import type { Logger } from "pino";
import { coerceError, sqlState } from "../lib/errors.js";
import type { StorageMetrics } from "./storage-metrics.js";

export interface SlotReport {
  slot: string;
  inactiveMs: number;
  retainedBytes: number;
  dropped: boolean;
}

/** When each inactive slot was first seen inactive, for servers without inactive_since (before 17). */
const firstSeenInactive = new WeakMap<pg.Pool, Map<string, number>>();

export async function checkAbandonedSlots(
  pool: pg.Pool,
  options: { dropAfterMs: number; logger: Logger; metrics: StorageMetrics; now?: number },
): Promise<SlotReport[]> {
  const { logger, metrics } = options;
  const now = options.now ?? Date.now();
  const seen = firstSeenInactive.get(pool) ?? new Map<string, number>();
  firstSeenInactive.set(pool, seen);
  const { rows } = await pool.query<{
    slot_name: string;
    active: boolean;
    inactive_since: Date | null;
    retained: number | null;
  }>(
    `SELECT s.slot_name, s.active, (to_jsonb(s) ->> 'inactive_since')::timestamptz AS inactive_since,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 AS retained
     FROM pg_replication_slots s
     WHERE s.database = current_database() AND s.slot_type = 'logical' AND s.plugin = 'pgoutput'
       AND NOT s.temporary AND s.slot_name LIKE 'scc\\_%'`,
  );
  const reports: SlotReport[] = [];
  for (const row of rows) {
    const slot = row.slot_name;
    const retainedBytes = row.retained ?? 0;
    metrics.slotRetainedBytes.set({ slot }, retainedBytes);
    if (row.active) {
      seen.delete(slot);
      metrics.slotInactiveSeconds.set({ slot }, 0);
      continue;
    }
    const since = row.inactive_since?.getTime() ?? seen.get(slot) ?? now;
    seen.set(slot, since);
    const inactiveMs = Math.max(0, now - since);
    metrics.slotInactiveSeconds.set({ slot }, inactiveMs / 1000);
    const report: SlotReport = { slot, inactiveMs, retainedBytes, dropped: false };
    reports.push(report);
    if (options.dropAfterMs > 0 && inactiveMs >= options.dropAfterMs) {
      try {
        await pool.query("SELECT pg_drop_replication_slot($1)", [slot]);
        report.dropped = true;
        seen.delete(slot);
        metrics.slotsDropped.inc({ slot });
        metrics.slotInactiveSeconds.remove({ slot });
        metrics.slotRetainedBytes.remove({ slot });
        logger.error(
          { slot, inactiveMinutes: Math.round(inactiveMs / 60_000), retainedBytes },
          "replication slot abandoned (not read for ABANDONED_SLOT_DROP_MINUTES): dropped it so it cannot fill the disk",
        );
      } catch (error) {
        // 55006: it became active meanwhile; 42704: dropped by someone else. Either way it is not abandoned now.
        const code = sqlState(error);
        if (code !== "55006" && code !== "42704") throw error;
        logger.info({ slot, err: coerceError(error).message }, "abandoned slot was taken or dropped meanwhile");
      }
    } else {
      logger.warn(
        { slot, inactiveMinutes: Math.round(inactiveMs / 60_000), retainedBytes, dropAfterMs: options.dropAfterMs },
        "replication slot is not being read: it retains WAL until it is read or dropped",
      );
    }
  }
  return reports;
}
