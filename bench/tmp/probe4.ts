import { startCluster } from "../lib/cluster.js";
import { roundSamples, siteDemand, benchEpoch, chunk, type Fleet } from "../lib/data.js";
import { insertSessionSamples, insertSiteDemand } from "../../src/ingest/ingest.repository.js";
import { now } from "../lib/stats.js";
import { createDb } from "../../src/db/pool.js";
import pg from "pg";

const cluster = await startCluster();
try {
  const d = await cluster.createDatabase("probe");
  const fleet: Fleet = { prefix: "site", sites: 1000, sessionsPerSite: 20, t0: benchEpoch() };
  await d.pool.query("SELECT set_clock($1, 0)", [fleet.t0.toISOString()]);
  await insertSiteDemand(d.db, siteDemand(fleet));
  for (const b of chunk(roundSamples(fleet, 0), 10000)) await insertSessionSamples(d.db, b);
  await d.pool.query("ANALYZE");
  let round = 1;
  for (const mode of ["auto", "force_generic_plan", "force_custom_plan", "auto"]) {
    const one = new pg.Pool({ connectionString: d.url, max: 1, options: `-c plan_cache_mode=${mode}` });
    const db1 = createDb(one);
    const rows = roundSamples(fleet, round++);
    let k = 0;
    for (const B of [1, 1, 1000, 1000]) {
      const n = B === 1 ? 50 : 5;
      const t = now();
      for (let i = 0; i < n; i++) { await insertSessionSamples(db1, rows.slice(k, k + B)); k += B; }
      console.log(mode, `B=${B}`, ((now() - t) / n).toFixed(2), "ms/stmt");
    }
    await one.end();
  }
  // planning time of the main statement
  const c = new pg.Client({ connectionString: d.url });
  await c.connect();
  const sites = Array.from({ length: 50 }, (_, i) => `site-${String(i + 100).padStart(6, "0")}`);
  for (const q of [
    `EXPLAIN (ANALYZE, SUMMARY) SELECT * FROM session_allocation($1, app_now())`,
    `EXPLAIN (ANALYZE, SUMMARY) SELECT * FROM site_bounds($1, app_now())`,
  ]) {
    for (const arr of [[sites[0]], sites]) {
      const r = await c.query(q, [arr]);
      console.log(q.slice(27, 70), arr.length, r.rows.filter((x: any) => /Planning|Execution/.test(x["QUERY PLAN"])).map((x: any) => x["QUERY PLAN"]).join(" | "));
    }
  }
  await c.query("BEGIN");
  const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS, SUMMARY) SELECT recompute_sites($1)`, [sites]);
  console.log(r.rows.map((x: any) => x["QUERY PLAN"]).join("\n"));
  await c.query("ROLLBACK");
  await c.end();
} finally {
  await cluster.stop();
}
