// 6. Baseline: the tutorial's approach as a PostgreSQL user would build it without a streaming
// engine. Its views become MATERIALIZED VIEWs over their own raw tables (schema `baseline`), and
// all three are refreshed after every batch. Its formula, defects included:
//   headroom = GREATEST(0, demand_limit_kw - current_demand_kw)   (counts EV load against itself)
//   setpoint = LEAST(rated_power_kw, GREATEST(3.0, headroom / NULLIF(count, 1)))   (a lone session gets 3 kW)
// Same database server, same fleet (1,000 sites x 20 sessions), same batches of 1,000 samples,
// interleaved batch by batch with ours so both see the same machine noise.
import type pg from "pg";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import type { SessionSample } from "../../src/ingest/validate.js";
import { benchFleet, chunk, roundSamples, siteDemand } from "../lib/data.js";
import { seedFleet, unnestOf, verifySetpoints } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { fmtMs, fmtNum, fmtRatio, fmtUs, now, summarize } from "../lib/stats.js";

const SCHEMA = `
CREATE SCHEMA baseline;
CREATE TABLE baseline.session_samples_raw (
  session_id text NOT NULL, charge_point_id text NOT NULL, connector_id integer NOT NULL, site_id text NOT NULL,
  rated_power_kw double precision NOT NULL, current_power_kw double precision, soc_pct double precision,
  energy_kwh double precision, session_start_ts timestamptz NOT NULL, sampled_ts timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE baseline.site_demand_raw (
  site_id text NOT NULL, demand_limit_kw double precision NOT NULL, current_demand_kw double precision NOT NULL,
  ev_load_kw double precision NOT NULL, measured_ts timestamptz NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
-- latest session per session_id
CREATE MATERIALIZED VIEW baseline.latest_sessions AS
  SELECT DISTINCT ON (session_id) * FROM baseline.session_samples_raw ORDER BY session_id, sampled_ts DESC;
-- latest site demand per site
CREATE MATERIALIZED VIEW baseline.latest_site_demand AS
  SELECT DISTINCT ON (site_id) * FROM baseline.site_demand_raw ORDER BY site_id, measured_ts DESC;
-- the allocation, with the tutorial's formula
CREATE MATERIALIZED VIEW baseline.setpoints AS
  WITH site AS (
    SELECT d.site_id,
           GREATEST(0, d.demand_limit_kw - d.current_demand_kw) AS headroom_kw,
           count(s.session_id) AS active_sessions
    FROM baseline.latest_site_demand d
    LEFT JOIN baseline.latest_sessions s ON s.site_id = d.site_id
    GROUP BY d.site_id, d.demand_limit_kw, d.current_demand_kw)
  SELECT s.session_id, s.site_id, s.charge_point_id, s.connector_id, site.headroom_kw, site.active_sessions,
         LEAST(s.rated_power_kw, GREATEST(3.0, site.headroom_kw / NULLIF(site.active_sessions, 1))) AS setpoint_kw
  FROM baseline.latest_sessions s JOIN site ON site.site_id = s.site_id;
`;

const REFRESH = [
  "REFRESH MATERIALIZED VIEW baseline.latest_sessions",
  "REFRESH MATERIALIZED VIEW baseline.latest_site_demand",
  "REFRESH MATERIALIZED VIEW baseline.setpoints",
];

/** The columns of baseline.session_samples_raw (no id_tag, no ended_ts). */
const BASELINE_SAMPLE_COLUMNS = [
  "session_id",
  "charge_point_id",
  "connector_id",
  "site_id",
  "rated_power_kw",
  "current_power_kw",
  "soc_pct",
  "energy_kwh",
  "session_start_ts",
  "sampled_ts",
];

/** One batch into the baseline: insert, then refresh all three views, in one transaction. */
async function baselineBatch(client: pg.PoolClient, rows: readonly SessionSample[]): Promise<void> {
  await client.query("BEGIN");
  try {
    const u = unnestOf(INPUT_STREAMS.sessionSamples, rows, BASELINE_SAMPLE_COLUMNS);
    await client.query(`INSERT INTO baseline.session_samples_raw (${u.columns}) SELECT * FROM ${u.unnest}`, u.params);
    for (const statement of REFRESH) await client.query(statement);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

export const baselineScenario: Scenario = {
  name: "baseline",
  title: "ours vs the tutorial as materialized views refreshed per batch, 1,000 sites x 20, batch 1,000",
  async run(ctx) {
    const database = await ctx.cluster.createDatabase("baseline");
    const client = await database.pool.connect();
    try {
      const fleet = benchFleet();
      ctx.log("baseline: seeding ours and the baseline with 1,000 sites x 20 sessions");
      await seedFleet(database, fleet);
      await client.query(SCHEMA);
      const demand = unnestOf(INPUT_STREAMS.siteDemand, siteDemand(fleet));
      await client.query(
        `INSERT INTO baseline.site_demand_raw (${demand.columns}) SELECT * FROM ${demand.unnest}`,
        demand.params,
      );
      for (const part of chunk(roundSamples(fleet, 0), 10_000)) await baselineBatch(client, part);
      await client.query("VACUUM ANALYZE baseline.session_samples_raw");

      let round = 1;
      /** Batches of 1,000 of the next `rounds` rounds (or the first `limit` batches), ours and theirs in turn. */
      const measure = async (rounds: number, limit = Number.POSITIVE_INFINITY) => {
        const ours: number[] = [];
        const theirs: number[] = [];
        for (let r = 0; r < rounds; r++) {
          for (const batch of chunk(roundSamples(fleet, round), 1000).slice(0, limit)) {
            let t = now();
            await insertStream(database.db, INPUT_STREAMS.sessionSamples, batch);
            ours.push(now() - t);
            t = now();
            await baselineBatch(client, batch);
            theirs.push(now() - t);
          }
          round += 1;
        }
        return { ours: summarize(ours), theirs: summarize(theirs) };
      };
      const rounds = ctx.quick ? 1 : 5;
      ctx.log(`baseline: ${rounds} round(s), ours and the baseline batch by batch`);
      const fresh = await measure(rounds);
      const perEvent = (s: ReturnType<typeof summarize>) => s.mean / 1000;
      const check = await verifySetpoints(database.pool, ["site-000000", "site-000999"]);

      // The same after a realistic history: meter values every minute for `minutes` minutes
      // before the run. The raw tables are append-only in both designs; ours never reads them
      // back (the trigger sees only the new rows), the baseline re-reads all of them per refresh.
      const minutes = ctx.quick ? 15 : 60;
      ctx.log(`baseline: loading ${minutes} min of history (${fmtNum(minutes * 20_000)} raw rows each)`);
      await client.query("ALTER TABLE session_samples_raw DISABLE TRIGGER session_samples_ingest");
      try {
        await client.query(
          `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, id_tag, rated_power_kw,
             current_power_kw, soc_pct, energy_kwh, session_start_ts, sampled_ts, source)
           SELECT s.session_id, s.charge_point_id, s.connector_id, s.site_id, s.id_tag, s.rated_power_kw,
                  s.current_power_kw, s.soc_pct, s.energy_kwh, s.session_start_ts, $1::timestamptz - make_interval(mins => m), 'graphql'
           FROM sessions s CROSS JOIN generate_series(1, $2::int) m`,
          [fleet.t0.toISOString(), minutes],
        );
      } finally {
        await client.query("ALTER TABLE session_samples_raw ENABLE TRIGGER session_samples_ingest");
      }
      await client.query(
        `INSERT INTO baseline.session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
           current_power_kw, soc_pct, energy_kwh, session_start_ts, sampled_ts)
         SELECT s.session_id, s.charge_point_id, s.connector_id, s.site_id, s.rated_power_kw, s.current_power_kw,
                s.soc_pct, s.energy_kwh, s.session_start_ts, $1::timestamptz - make_interval(mins => m)
         FROM baseline.latest_sessions s CROSS JOIN generate_series(1, $2::int) m`,
        [fleet.t0.toISOString(), minutes],
      );
      await client.query("VACUUM ANALYZE session_samples_raw");
      await client.query("VACUUM ANALYZE baseline.session_samples_raw");
      const historyBatches = ctx.quick ? 3 : 6;
      ctx.log(`baseline: ${historyBatches} batches after the history`);
      const history = await measure(1, historyBatches);
      const rawRows = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM baseline.session_samples_raw");
      const checkAfter = await verifySetpoints(database.pool, ["site-000000", "site-000001", "site-000002"]);
      const sample = await client.query<{ ours: number; theirs: number }>(
        `SELECT sp.setpoint_kw::float8 AS ours, b.setpoint_kw AS theirs
         FROM setpoints sp JOIN baseline.setpoints b USING (session_id) WHERE sp.session_id = 'site-000000-s003'`,
      );
      const o = fresh.ours;
      const b = fresh.theirs;
      const rows: Row[] = [
        {
          metric: `cost per event, batch 1,000, ${rounds} round(s) of history (insert + fresh setpoints)`,
          value: fmtUs(perEvent(o)),
          baseline: fmtUs(perEvent(b)),
          ratio: fmtRatio(perEvent(b) / perEvent(o)),
        },
        {
          metric: "throughput, batch 1,000",
          value: `${fmtNum(1000 / perEvent(o))} samples/s`,
          baseline: `${fmtNum(1000 / perEvent(b))} samples/s`,
          ratio: fmtRatio(perEvent(b) / perEvent(o)),
        },
        {
          metric: `latency to fresh setpoints p50 / p99 (n=${o.n})`,
          value: `${fmtMs(o.p50)} / ${fmtMs(o.p99)}`,
          baseline: `${fmtMs(b.p50)} / ${fmtMs(b.p99)}`,
          ratio: fmtRatio(b.p50 / o.p50),
        },
        {
          metric: `after ${minutes} min of 1/min history (${fmtNum(rawRows.rows[0]?.n ?? 0)} raw rows): cost per event (n=${history.ours.n})`,
          value: fmtUs(perEvent(history.ours)),
          baseline: fmtUs(perEvent(history.theirs)),
          ratio: fmtRatio(perEvent(history.theirs) / perEvent(history.ours)),
        },
        {
          metric: "ours: setpoints current",
          value: check.ok && checkAfter.ok ? "ok" : `FAILED ${JSON.stringify([check, checkAfter])}`,
        },
      ];
      return {
        rows,
        data: {
          fresh: {
            oursMs: o,
            baselineMs: b,
            oursUsPerEvent: perEvent(o) * 1000,
            baselineUsPerEvent: perEvent(b) * 1000,
            ratio: perEvent(b) / perEvent(o),
          },
          history: {
            minutes,
            baselineRawRows: rawRows.rows[0]?.n,
            oursMs: history.ours,
            baselineMs: history.theirs,
            ratio: perEvent(history.theirs) / perEvent(history.ours),
          },
          exampleSession: sample.rows[0],
          verification: [check, checkAfter],
        },
      };
    } finally {
      client.release();
      await database.drop();
    }
  },
};
