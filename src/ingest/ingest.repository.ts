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

function originColumns(origin: Origin, count: number) {
  const positions = origin.source === "kafka" ? origin.positions : [];
  if (origin.source === "kafka" && positions.length !== count) {
    throw new Error(`expected ${count} Kafka positions, got ${positions.length}`);
  }
  return {
    source: origin.source satisfies Source,
    topics: positions.map((p) => p.topic),
    partitions: positions.map((p) => p.partition),
    offsets: positions.map((p) => p.offset),
    kafka: origin.source === "kafka",
  };
}

/** Returns how many rows were new (a replayed Kafka message counts 0). */
export async function insertSessionSamples(
  db: Executor,
  rows: readonly SessionSample[],
  origin: Origin = GRAPHQL,
): Promise<number> {
  if (rows.length === 0) return 0;
  const o = originColumns(origin, rows.length);
  const result = await sql`
    INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, id_tag, rated_power_kw,
      current_power_kw, soc_pct, energy_kwh, session_start_ts, sampled_ts, ended_ts, source,
      kafka_topic, kafka_partition, kafka_offset)
    SELECT u.session_id, u.charge_point_id, u.connector_id, u.site_id, u.id_tag, u.rated, u.cur, u.soc, u.energy,
           u.start_ts, u.sampled_ts, u.ended_ts, ${o.source}, k.topic, k.part, k.off
    FROM unnest(${rows.map((r) => r.sessionId)}::text[], ${rows.map((r) => r.chargePointId)}::text[],
                ${rows.map((r) => r.connectorId)}::int[], ${rows.map((r) => r.siteId)}::text[],
                ${rows.map((r) => r.idTag)}::text[], ${rows.map((r) => r.ratedPowerKw)}::float8[],
                ${rows.map((r) => r.currentPowerKw)}::float8[], ${rows.map((r) => r.socPct)}::float8[],
                ${rows.map((r) => r.energyKwh)}::float8[], ${rows.map((r) => r.sessionStartTs.toISOString())}::timestamptz[],
                ${rows.map((r) => r.sampledTs.toISOString())}::timestamptz[],
                ${rows.map((r) => r.endedTs?.toISOString() ?? null)}::timestamptz[]) WITH ORDINALITY AS u
      (session_id, charge_point_id, connector_id, site_id, id_tag, rated, cur, soc, energy, start_ts, sampled_ts, ended_ts, n)
    LEFT JOIN unnest(${o.topics}::text[], ${o.partitions}::int[], ${o.offsets}::int8[]) WITH ORDINALITY
      AS k (topic, part, off, n) ON k.n = u.n
    ORDER BY u.n
    ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export async function insertSiteDemand(
  db: Executor,
  rows: readonly SiteDemand[],
  origin: Origin = GRAPHQL,
): Promise<number> {
  if (rows.length === 0) return 0;
  const o = originColumns(origin, rows.length);
  const result = await sql`
    INSERT INTO site_demand_raw (site_id, demand_limit_kw, current_demand_kw, ev_load_kw, measured_ts, source,
      kafka_topic, kafka_partition, kafka_offset)
    SELECT u.site_id, u.lim, u.cur, u.ev, u.measured_ts, ${o.source}, k.topic, k.part, k.off
    FROM unnest(${rows.map((r) => r.siteId)}::text[], ${rows.map((r) => r.demandLimitKw)}::float8[],
                ${rows.map((r) => r.currentDemandKw)}::float8[], ${rows.map((r) => r.evLoadKw)}::float8[],
                ${rows.map((r) => r.measuredTs.toISOString())}::timestamptz[]) WITH ORDINALITY
      AS u (site_id, lim, cur, ev, measured_ts, n)
    LEFT JOIN unnest(${o.topics}::text[], ${o.partitions}::int[], ${o.offsets}::int8[]) WITH ORDINALITY
      AS k (topic, part, off, n) ON k.n = u.n
    ORDER BY u.n
    ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export async function insertPriceSignals(
  db: Executor,
  rows: readonly PriceSignal[],
  origin: Origin = GRAPHQL,
): Promise<number> {
  if (rows.length === 0) return 0;
  const o = originColumns(origin, rows.length);
  const result = await sql`
    INSERT INTO price_signals_raw (tariff_id, site_id, price_usd_kwh, price_tier, valid_from, valid_to, source,
      kafka_topic, kafka_partition, kafka_offset)
    SELECT u.tariff_id, u.site_id, u.price, u.tier, u.valid_from, u.valid_to, ${o.source}, k.topic, k.part, k.off
    FROM unnest(${rows.map((r) => r.tariffId)}::text[], ${rows.map((r) => r.siteId)}::text[],
                ${rows.map((r) => r.priceUsdKwh)}::float8[], ${rows.map((r) => r.priceTier)}::text[],
                ${rows.map((r) => r.validFrom.toISOString())}::timestamptz[],
                ${rows.map((r) => r.validTo.toISOString())}::timestamptz[]) WITH ORDINALITY
      AS u (tariff_id, site_id, price, tier, valid_from, valid_to, n)
    LEFT JOIN unnest(${o.topics}::text[], ${o.partitions}::int[], ${o.offsets}::int8[]) WITH ORDINALITY
      AS k (topic, part, off, n) ON k.n = u.n
    ORDER BY u.n
    ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export async function insertDemandResponse(
  db: Executor,
  rows: readonly DemandResponseSignal[],
  origin: Origin = GRAPHQL,
): Promise<number> {
  if (rows.length === 0) return 0;
  const o = originColumns(origin, rows.length);
  const result = await sql`
    INSERT INTO dr_signals_raw (dr_event_id, site_id, curtailment_pct, baseline_kw, event_start_ts, event_end_ts,
      signal_ts, source, kafka_topic, kafka_partition, kafka_offset)
    SELECT u.dr_event_id, u.site_id, u.pct, u.baseline, u.start_ts, u.end_ts, u.signal_ts, ${o.source}, k.topic, k.part, k.off
    FROM unnest(${rows.map((r) => r.drEventId)}::text[], ${rows.map((r) => r.siteId)}::text[],
                ${rows.map((r) => r.curtailmentPct)}::float8[], ${rows.map((r) => r.baselineKw)}::float8[],
                ${rows.map((r) => r.eventStartTs.toISOString())}::timestamptz[],
                ${rows.map((r) => r.eventEndTs.toISOString())}::timestamptz[],
                ${rows.map((r) => r.signalTs.toISOString())}::timestamptz[]) WITH ORDINALITY
      AS u (dr_event_id, site_id, pct, baseline, start_ts, end_ts, signal_ts, n)
    LEFT JOIN unnest(${o.topics}::text[], ${o.partitions}::int[], ${o.offsets}::int8[]) WITH ORDINALITY
      AS k (topic, part, off, n) ON k.n = u.n
    ORDER BY u.n
    ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/** Ends a session explicitly; endedAt defaults to the database clock. */
export async function insertSessionEnd(db: Executor, sessionId: string, endedAt: Date | null): Promise<void> {
  await sql`
    INSERT INTO session_ends_raw (session_id, ended_at, source)
    VALUES (${sessionId}, coalesce(${endedAt?.toISOString() ?? null}::timestamptz, app_now()), 'graphql')`.execute(db);
}
