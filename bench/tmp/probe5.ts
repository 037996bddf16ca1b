import { startCluster } from "../lib/cluster.js";
import { roundSamples, siteDemand, benchEpoch, chunk, type Fleet } from "../lib/data.js";
import { insertSessionSamples, insertSiteDemand } from "../../src/ingest/ingest.repository.js";
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
  const one = new pg.Pool({ connectionString: d.url, max: 1 });
  const db1 = createDb(one);
  const rows = roundSamples(fleet, 1);
  for (let i = 0; i < 6; i++) await insertSessionSamples(db1, rows.slice(i * 1000, i * 1000 + 1000));
  await one.query("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; SET auto_explain.log_timing = on; SET auto_explain.log_buffers = on");
  cluster.logs.length = 0;
  await insertSessionSamples(db1, rows.slice(7000, 8000));
  console.log(cluster.logs.join(""));
  await one.end();
} finally {
  await cluster.stop();
}
