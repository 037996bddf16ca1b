// Publication and replication slot administration for the change stream: make sure the
// publication exists, make sure the slot exists and is a usable pgoutput slot of this database
// (recreating an invalidated or vanished one, loudly), and the slot's lag for the metrics.
import type pg from "pg";
import { coerceError, sqlState } from "../lib/errors.js";
import { parseLsn } from "./lsn.js";
import type { ReplicationConnection } from "./replication-reader.js";

export const DEFAULT_PUBLICATION = "scc_changes";
const PUBLISHED_TABLES = "setpoint_commands, alert_events";

export interface ChangeStreamLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** An error that retrying will not fix: the publication or the slot cannot be set up. */
export class ChangeStreamSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ChangeStreamSetupError";
  }
}

/** Errors worth retrying: lost connections, a server starting or stopping, a slot in use. */
export function isTransient(error: unknown): boolean {
  const code = sqlState(error);
  if (!code) return true; // socket errors, timeouts
  return (
    code.startsWith("08") || // connection exceptions
    code.startsWith("57") || // admin shutdown, crash shutdown, cannot connect now
    code.startsWith("53") || // insufficient resources (too many connections)
    code === "55006" || // object_in_use: the slot is still active for another (old) walsender
    code === "40001" ||
    code === "40P01"
  );
}

/** Bytes of WAL the durable slot retains (pg_current_wal_lsn() - confirmed_flush_lsn), null if missing. */
export async function slotLagBytes(pool: pg.Pool, slotName: string): Promise<number | null> {
  const { rows } = await pool.query<{ lag: number | null }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag
     FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  return rows[0]?.lag ?? null;
}

/** Creates the publication if it is missing (SPEC §5: the outbox and the alerts). */
export async function ensurePublication(
  conn: ReplicationConnection,
  publication: string,
  log: ChangeStreamLogger,
  ctx: object,
): Promise<void> {
  try {
    const rows = await conn.query(`SELECT 1 FROM pg_publication WHERE pubname = ${conn.escapeLiteral(publication)}`);
    if (rows.length > 0) return;
    try {
      // The outbox is partitioned (bounded storage): its rows are published as the parent's.
      await conn.query(
        `CREATE PUBLICATION ${publication} FOR TABLE ${PUBLISHED_TABLES} WITH (publish_via_partition_root = true)`,
      );
      log.warn({ ...ctx, publication }, "publication was missing; created it");
    } catch (error) {
      if (sqlState(error) !== "42710") throw error; // created concurrently
    }
  } catch (error) {
    if (isTransient(error)) throw error;
    throw new ChangeStreamSetupError(
      `change stream: cannot create publication ${publication}: ${coerceError(error).message}`,
      { cause: error },
    );
  }
}

export interface SlotSpec {
  name: string;
  temporary: boolean;
}

export interface EnsuredSlot {
  /**
   * The slot's position: the consistent point of a new temporary slot, the confirmed_flush_lsn of
   * a durable one (null if it has none yet).
   */
  position: bigint | null;
  /** A durable slot was invalidated, or had disappeared after `seen`, and was created again. */
  recreated: boolean;
}

interface SlotRow extends Record<string, unknown> {
  plugin: string | null;
  slot_type: string;
  database: string | null;
  current_db: string;
  temporary: boolean | string;
  wal_status: string | null;
  invalidation_reason: string | null;
  confirmed_flush_lsn: string | null;
}

/**
 * Makes sure the slot exists and is usable. `seen`: this stream used the durable slot before, so
 * finding it missing means it was lost (logged at error level with `lastConfirmedLsn`).
 */
export async function ensureSlot(
  conn: ReplicationConnection,
  slot: SlotSpec,
  seen: boolean,
  lastConfirmedLsn: string | null,
  log: ChangeStreamLogger,
  ctx: object,
): Promise<EnsuredSlot> {
  const name = slot.name;
  try {
    if (slot.temporary) return { position: await createSlot(conn, slot), recreated: false };
    const rows = await conn.query<SlotRow>(
      `SELECT s.plugin, s.slot_type, s.database::text AS database, current_database()::text AS current_db,
              s.temporary, s.wal_status, to_jsonb(s) ->> 'invalidation_reason' AS invalidation_reason,
              s.confirmed_flush_lsn::text AS confirmed_flush_lsn
       FROM pg_replication_slots s WHERE s.slot_name = ${conn.escapeLiteral(name)}`,
    );
    const row = rows[0];
    if (row && (row.slot_type !== "logical" || row.plugin !== "pgoutput" || row.database !== row.current_db)) {
      throw new ChangeStreamSetupError(
        `change stream: replication slot ${name} exists but is not a pgoutput slot of database ${row.current_db} ` +
          `(type ${row.slot_type}, plugin ${row.plugin}, database ${row.database})`,
      );
    }
    let recreated = false;
    if (row && (row.wal_status === "lost" || row.invalidation_reason)) {
      log.error(
        {
          ...ctx,
          walStatus: row.wal_status,
          invalidationReason: row.invalidation_reason,
          confirmedFlushLsn: row.confirmed_flush_lsn,
        },
        "replication slot was invalidated: changes after its confirmed position are lost; dropping and recreating it",
      );
      await conn.query(`DROP_REPLICATION_SLOT ${name}`);
      await createSlot(conn, slot);
      recreated = true;
    } else if (!row) {
      await createSlot(conn, slot);
      if (seen) {
        recreated = true;
        log.error(
          { ...ctx, lastConfirmedLsn },
          "replication slot disappeared: recreated it at the current position; changes committed meanwhile were not delivered",
        );
      } else {
        log.warn({ ...ctx }, "replication slot did not exist; created it at the current position");
      }
    }
    const confirmed = await conn.query<{ lsn: string | null }>(
      `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = ${conn.escapeLiteral(name)}`,
    );
    const lsn = confirmed[0]?.lsn;
    return { position: lsn ? parseLsn(lsn) : null, recreated };
  } catch (error) {
    if (error instanceof ChangeStreamSetupError || isTransient(error)) throw error;
    // A durable slot that exists with the same name for another purpose, a temporary slot
    // still held by our previous walsender (42710), or a concurrent drop: retry.
    if (sqlState(error) === "42710" || sqlState(error) === "42704") throw error;
    throw new ChangeStreamSetupError(
      `change stream: cannot set up replication slot ${name}: ${coerceError(error).message}`,
      { cause: error },
    );
  }
}

/** CREATE_REPLICATION_SLOT; returns the slot's consistent point. */
async function createSlot(conn: ReplicationConnection, slot: SlotSpec): Promise<bigint> {
  const temporary = slot.temporary ? " TEMPORARY" : "";
  const rows = await conn.query<{ consistent_point: string }>(
    `CREATE_REPLICATION_SLOT ${slot.name}${temporary} LOGICAL pgoutput (SNAPSHOT 'nothing')`,
  );
  const point = rows[0]?.consistent_point;
  if (!point) throw new Error("CREATE_REPLICATION_SLOT returned no consistent point");
  return parseLsn(point);
}
