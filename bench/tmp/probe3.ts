import { startCluster } from "../lib/cluster.js";
import { roundSamples, siteDemand, benchEpoch, chunk, type Fleet } from "../lib/data.js";
import { insertSessionSamples, insertSiteDemand } from "../../src/ingest/ingest.repository.js";
import { now } from "../lib/stats.js";
import { createDb } from "../../src/db/pool.js";
import pg from "pg";

const cluster = await startCluster();
function parse(text: string) {
  const re = /duration: ([\d.]+) ms\s+plan:\s+Query Text: ([^\n]*)/g;
  const out: [string, number][] = [];
  for (const m of text.matchAll(re)) out.push([m[2]!.slice(0, 70), Number(m[1])]);
  return out;
}
try {
  const d = await cluster.createDatabase("probe");
  const fleet: Fleet = { prefix: "site", sites: 1000, sessionsPerSite: 20, t0: benchEpoch() };
  await d.pool.query("SELECT set_clock($1, 0)", [fleet.t0.toISOString()]);
  await insertSiteDemand(d.db, siteDemand(fleet));
  for (const b of chunk(roundSamples(fleet, 0), 10000)) await insertSessionSamples(d.db, b);
  const one = new pg.Pool({ connectionString: d.url, max: 1 });
  const db1 = createDb(one);
  const rows = roundSamples(fleet, 1);
  let k = 0;
  const run = async (label: string, n: number, B = 1) => {
    const t = now();
    for (let i = 0; i < n; i++) { await insertSessionSamples(db1, rows.slice(k, k + B)); k += B; }
    console.log(label, `B=${B}`, ((now() - t) / n).toFixed(2), "ms/stmt");
  };
  await run("before analyze", 30);
  await run("before analyze", 5, 1000);
  await one.query("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off");
  cluster.logs.length = 0;
  await run("auto_explain", 1);
  for (const [q, ms] of parse(cluster.logs.join(""))) console.log("   ", ms.toFixed(3).padStart(8), q);
  cluster.logs.length = 0;
  await run("auto_explain", 1, 1000);
  for (const [q, ms] of parse(cluster.logs.join(""))) console.log("   ", ms.toFixed(3).padStart(8), q);
  await one.query("RESET auto_explain.log_min_duration; SET auto_explain.log_min_duration = -1");
  await d.pool.query("ANALYZE");
  await one.end();
  const two = new pg.Pool({ connectionString: d.url, max: 1 });
  const db2 = createDb(two);
  const run2 = async (label: string, n: number, B = 1) => {
    const t = now();
    for (let i = 0; i < n; i++) { await insertSessionSamples(db2, rows.slice(k, k + B)); k += B; }
    console.log(label, `B=${B}`, ((now() - t) / n).toFixed(2), "ms/stmt");
  };
  await run2("after analyze", 30);
  await run2("after analyze", 5, 1000);
  await two.query("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off");
  cluster.logs.length = 0;
  await run2("auto_explain", 1);
  for (const [q, ms] of parse(cluster.logs.join(""))) console.log("   ", ms.toFixed(3).padStart(8), q);
  cluster.logs.length = 0;
  await run2("auto_explain", 1, 1000);
  for (const [q, ms] of parse(cluster.logs.join(""))) console.log("   ", ms.toFixed(3).padStart(8), q);
  await two.end();
} finally {
  await cluster.stop();
}
