// Reads the per-site status log (site_history, written by sql/080_site_history.sql) in buckets.
//
// The log is a step function: each row holds from its ts until the site's next row (the latest
// row is held until the service clock's now). A bucket's figure is the time-weighted mean of that
// step function over the part of the bucket it covers (from the site's first row, up to now),
// the value carried in from the last row before the bucket included. A bucket with rows but no
// covered time (its only row is at now) takes its latest row's value; a bucket before the first
// row, or after now, has null figures. The tier is the one in force longest in the bucket; DR is
// active if a DR event was in force at any time in it.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { PriceTier } from "../domain.js";
import type { HistoryRange } from "./history.js";

export interface SiteHistoryBucket {
  start: Date;
  demand_kw: number | null;
  max_demand_kw: number | null;
  building_kw: number | null;
  ev_load_kw: number | null;
  commanded_kw: number | null;
  limit_kw: number | null;
  ev_cap_kw: number | null;
  target_kw: number | null;
  tier: PriceTier | null;
  dr_active: boolean | null;
}

/** The time-weighted mean of a column over the segments overlapping a bucket, or the latest value. */
const mean = (column: string) =>
  sql.raw(`coalesce(
    sum(s.${column} * o.dur) / nullif(sum(o.dur) FILTER (WHERE s.${column} IS NOT NULL), 0),
    (array_agg(s.${column} ORDER BY s.seg_start DESC) FILTER (WHERE s.seg_start IS NOT NULL))[1])`);

export async function siteHistory(db: Db, siteId: string, range: HistoryRange): Promise<SiteHistoryBucket[]> {
  const { from, to, bucketSeconds, buckets } = range;
  const { rows } = await sql<SiteHistoryBucket>`
    WITH points AS (
      (SELECT * FROM site_history WHERE site_id = ${siteId} AND ts < ${from} ORDER BY ts DESC LIMIT 1)
      UNION ALL
      SELECT * FROM site_history WHERE site_id = ${siteId} AND ts >= ${from} AND ts < ${to}
    ),
    segments AS (
      SELECT p.*, p.ts AS seg_start,
             greatest(p.ts, coalesce(lead(p.ts) OVER (ORDER BY p.ts), least(${to}::timestamptz, app_now()))) AS seg_end
      FROM points p
    ),
    buckets AS (
      SELECT i, ${from}::timestamptz + make_interval(secs => i * ${bucketSeconds}) AS b_start,
             least(${from}::timestamptz + make_interval(secs => (i + 1) * ${bucketSeconds}), ${to}::timestamptz) AS b_end
      FROM generate_series(0, ${buckets - 1}::integer) AS i
    )
    SELECT b.b_start AS start,
           ${mean("demand_kw")} AS demand_kw,
           max(s.demand_kw) AS max_demand_kw,
           ${mean("building_kw")} AS building_kw,
           ${mean("ev_load_kw")} AS ev_load_kw,
           ${mean("commanded_kw")} AS commanded_kw,
           ${mean("limit_kw")} AS limit_kw,
           ${mean("ev_cap_kw")} AS ev_cap_kw,
           ${mean("target_kw")} AS target_kw,
           (array_agg(s.tier ORDER BY o.dur DESC, s.seg_start DESC) FILTER (WHERE s.seg_start IS NOT NULL))[1] AS tier,
           bool_or(s.dr_active) AS dr_active
    FROM buckets b
    LEFT JOIN segments s
      ON s.seg_start < b.b_end AND (s.seg_end > b.b_start OR (s.seg_end = s.seg_start AND s.seg_start >= b.b_start))
    LEFT JOIN LATERAL (
      SELECT extract(epoch FROM least(s.seg_end, b.b_end) - greatest(s.seg_start, b.b_start))::float8 AS dur
    ) o ON true
    GROUP BY b.i, b.b_start
    ORDER BY b.i`.execute(db);
  return rows;
}
