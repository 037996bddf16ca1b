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
  const client = new pg.Client({ connectionString: d.url });
  await client.connect();
  const one = new pg.Pool({ connectionString: d.url, max: 1 });
  const db1 = createDb(one);
  await one.query("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET auto_explain.log_timing = on");
  const rows = roundSamples(fleet, 1).slice(0, 30);
  for (let i = 0; i < 8; i++) {
    cluster.logs.length = 0;
    const t = now();
    await insertSessionSamples(db1, [rows[i]!]);
    console.log("one sample", (now() - t).toFixed(1), "ms");
  }
  const text = cluster.logs.join("");
  // print durations and first lines of each plan
  console.log(text.slice(0, 60000));
  await client.end(); await one.end();
} finally {
  await cluster.stop();
}
