// The cost of the site status log (record_site_history, sql/080) inside recompute_sites:
// npx tsx bench/site-history.ts [sites] [sessions per site] [rounds]
// Seeds a database, then, interleaved per round, times recompute_sites over every site after a
// demand change (the hook included), record_site_history alone when every figure changed (one
// row per site written), and alone when nothing changed (the comparison only).
import { startCluster } from "./lib/cluster.js";

const [sites = 1000, perSite = 20, rounds = 5] = process.argv.slice(2).map(Number);
const cluster = await startCluster();
try {
  const d = await cluster.createDatabase("site_history");
  const q = (text: string, values: unknown[] = []) => d.pool.query(text, values);
  const T0 = Date.parse("2026-06-01T12:00:00Z");
  const iso = (offset: number) => new Date(T0 + offset * 1000).toISOString();
  await q("SELECT set_clock($1, 0)", [iso(0)]);
  await q(
    `INSERT INTO site_demand_raw (site_id, demand_limit_kw, current_demand_kw, ev_load_kw, measured_ts, source)
     SELECT 'hs-' || s, 500, 200, 100, $1, 'graphql' FROM generate_series(1, $2::int) s`,
    [iso(0), sites],
  );
  await q(
    `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
       current_power_kw, session_start_ts, sampled_ts, source)
     SELECT 'hs-' || s || '-' || k, 'cp-' || s || '-' || k, 1, 'hs-' || s, 11, 5, $1, $1, 'graphql'
     FROM generate_series(1, $2::int) s, generate_series(1, $3::int) k`,
    [iso(0), sites, perSite],
  );
  const all = (await q("SELECT array_agg(site_id) AS a FROM sites")).rows[0].a as string[];
  const time = async (text: string, values: unknown[]) => {
    const start = process.hrtime.bigint();
    await q(text, values);
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const figures: Record<string, number[]> = { recompute: [], changed: [], unchanged: [] };
  for (let round = 1; round <= rounds; round++) {
    await q("SELECT set_clock($1, 0)", [iso(round * 60)]);
    await q("UPDATE sites SET current_demand_kw = 200 + $1", [round]);
    figures.recompute?.push(await time("SELECT recompute_sites($1)", [all]));
    await q("SELECT set_clock($1, 0)", [iso(round * 60 + 30)]);
    await q("UPDATE sites SET current_demand_kw = 300 + $1", [round]);
    figures.changed?.push(await time("SELECT record_site_history($1, app_now())", [all]));
    figures.unchanged?.push(await time("SELECT record_site_history($1, app_now())", [all]));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const rows = (await q("SELECT count(*)::int AS n FROM site_history")).rows[0].n;
  console.log(`${sites} sites x ${perSite} sessions, ${rounds} rounds (median ms):`);
  for (const [name, xs] of Object.entries(figures))
    console.log(`  ${name}: ${median(xs).toFixed(1)} ms  [${xs.map((x) => x.toFixed(0)).join(", ")}]`);
  console.log(`  site_history rows: ${rows}`);
  await d.drop();
} finally {
  await cluster.stop();
}
