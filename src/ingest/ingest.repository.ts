// Writes validated events to the raw tables, each batch in ONE statement (unnest of arrays), so
// the statement-level triggers recompute each touched site once. A Kafka row carries its
// (topic, partition, offset); replaying it inserts nothing.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { Source } from "../db/types.js";
import type { DemandResponseSignal, PriceSignal, SessionSample, SiteDemand } from "./validate.js";

export interface KafkaOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export type Origin = { source: "graphql" } | { source: "kafka"; positions: readonly KafkaOrigin[] };

export const GRAPHQL: Origin = { source: "graphql" };

type Executor = Pick<Db, "executeQuery"> & Db;

/** One column of a raw table: its name, its SQL array type, and its value per row. */
interface Column<T> {
  readonly name: string;
  readonly type: "text" | "int" | "float8" | "timestamptz";
  readonly value: (row: T) => string | number | null;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/**
 * INSERT ... SELECT FROM unnest(one array per column) WITH ORDINALITY, joined to the Kafka
 * positions by ordinal: one statement per batch, whatever its size.
 */
async function insertRaw<T>(
  db: Executor,
  table: string,
  columns: readonly Column<T>[],
  rows: readonly T[],
  origin: Origin,
) {
  if (rows.length === 0) return 0;
  const positions = origin.source === "kafka" ? origin.positions : [];
  if (origin.source === "kafka" && positions.length !== rows.length) {
    throw new Error(`expected ${rows.length} Kafka positions, got ${positions.length}`);
  }
  const names = sql.raw(columns.map((c) => c.name).join(", "));
  const selected = sql.raw(columns.map((c) => `u.${c.name}`).join(", "));
  const arrays = sql.join(columns.map((c) => sql`${rows.map(c.value)}::${sql.raw(c.type)}[]`));
  const result = await sql`
    INSERT INTO ${sql.raw(table)} (${names}, source, kafka_topic, kafka_partition, kafka_offset)
    SELECT ${selected}, ${origin.source satisfies Source}, k.topic, k.part, k.off
    FROM unnest(${arrays}) WITH ORDINALITY AS u (${names}, n)
    LEFT JOIN unnest(${positions.map((p) => p.topic)}::text[], ${positions.map((p) => p.partition)}::int[],
                     ${positions.map((p) => p.offset)}::int8[]) WITH ORDINALITY AS k (topic, part, off, n) ON k.n = u.n
    ORDER BY u.n
    ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

const SESSION_SAMPLE_COLUMNS: readonly Column<SessionSample>[] = [
  { name: "session_id", type: "text", value: (r) => r.sessionId },
  { name: "charge_point_id", type: "text", value: (r) => r.chargePointId },
  { name: "connector_id", type: "int", value: (r) => r.connectorId },
  { name: "site_id", type: "text", value: (r) => r.siteId },
  { name: "id_tag", type: "text", value: (r) => r.idTag },
  { name: "rated_power_kw", type: "float8", value: (r) => r.ratedPowerKw },
  { name: "current_power_kw", type: "float8", value: (r) => r.currentPowerKw },
  { name: "soc_pct", type: "float8", value: (r) => r.socPct },
  { name: "energy_kwh", type: "float8", value: (r) => r.energyKwh },
  { name: "session_start_ts", type: "timestamptz", value: (r) => iso(r.sessionStartTs) },
  { name: "sampled_ts", type: "timestamptz", value: (r) => iso(r.sampledTs) },
  { name: "ended_ts", type: "timestamptz", value: (r) => iso(r.endedTs) },
];

const SITE_DEMAND_COLUMNS: readonly Column<SiteDemand>[] = [
  { name: "site_id", type: "text", value: (r) => r.siteId },
  { name: "demand_limit_kw", type: "float8", value: (r) => r.demandLimitKw },
  { name: "current_demand_kw", type: "float8", value: (r) => r.currentDemandKw },
  { name: "ev_load_kw", type: "float8", value: (r) => r.evLoadKw },
  { name: "measured_ts", type: "timestamptz", value: (r) => iso(r.measuredTs) },
];

const PRICE_SIGNAL_COLUMNS: readonly Column<PriceSignal>[] = [
  { name: "tariff_id", type: "text", value: (r) => r.tariffId },
  { name: "site_id", type: "text", value: (r) => r.siteId },
  { name: "price_usd_kwh", type: "float8", value: (r) => r.priceUsdKwh },
  { name: "price_tier", type: "text", value: (r) => r.priceTier },
  { name: "valid_from", type: "timestamptz", value: (r) => iso(r.validFrom) },
  { name: "valid_to", type: "timestamptz", value: (r) => iso(r.validTo) },
];

const DR_SIGNAL_COLUMNS: readonly Column<DemandResponseSignal>[] = [
  { name: "dr_event_id", type: "text", value: (r) => r.drEventId },
  { name: "site_id", type: "text", value: (r) => r.siteId },
  { name: "curtailment_pct", type: "float8", value: (r) => r.curtailmentPct },
  { name: "baseline_kw", type: "float8", value: (r) => r.baselineKw },
  { name: "event_start_ts", type: "timestamptz", value: (r) => iso(r.eventStartTs) },
  { name: "event_end_ts", type: "timestamptz", value: (r) => iso(r.eventEndTs) },
  { name: "signal_ts", type: "timestamptz", value: (r) => iso(r.signalTs) },
];

/** Each returns how many rows were new (a replayed Kafka message counts 0). */
export const insertSessionSamples = (db: Executor, rows: readonly SessionSample[], origin: Origin = GRAPHQL) =>
  insertRaw(db, "session_samples_raw", SESSION_SAMPLE_COLUMNS, rows, origin);

export const insertSiteDemand = (db: Executor, rows: readonly SiteDemand[], origin: Origin = GRAPHQL) =>
  insertRaw(db, "site_demand_raw", SITE_DEMAND_COLUMNS, rows, origin);

export const insertPriceSignals = (db: Executor, rows: readonly PriceSignal[], origin: Origin = GRAPHQL) =>
  insertRaw(db, "price_signals_raw", PRICE_SIGNAL_COLUMNS, rows, origin);

export const insertDemandResponse = (db: Executor, rows: readonly DemandResponseSignal[], origin: Origin = GRAPHQL) =>
  insertRaw(db, "dr_signals_raw", DR_SIGNAL_COLUMNS, rows, origin);

/** Ends a session explicitly; endedAt defaults to the database clock. */
export async function insertSessionEnd(db: Executor, sessionId: string, endedAt: Date | null): Promise<void> {
  await sql`
    INSERT INTO session_ends_raw (session_id, ended_at, source)
    VALUES (${sessionId}, coalesce(${endedAt?.toISOString() ?? null}::timestamptz, app_now()), 'graphql')`.execute(db);
}
