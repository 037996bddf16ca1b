import { startCluster } from "../lib/cluster.js";
import { roundSamples, siteDemand, benchEpoch, chunk, type Fleet } from "../lib/data.js";
import { insertSessionSamples, insertSiteDemand } from "../../src/ingest/ingest.repository.js";
import { now } from "../lib/stats.js";

const cluster = await startCluster();
try {
  console.log("pg", cluster.version);
  const d = await cluster.createDatabase("probe");
  const fleet: Fleet = { prefix: "site", sites: 1000, sessionsPerSite: 20, t0: benchEpoch() };
  await d.pool.query("SELECT set_clock($1, 0)", [fleet.t0.toISOString()]);
  let t = now();
  await insertSiteDemand(d.db, siteDemand(fleet));
  console.log("demand", now() - t);
  for (const B of [1000, 1000, 100, 10000, 1000]) {
    for (let r = 0; r < 2; r++) {
      const round = (globalThis as any).__r = ((globalThis as any).__r ?? -1) + 1;
      const rows = roundSamples(fleet, round);
      t = now();
      for (const b of chunk(rows, B)) await insertSessionSamples(d.db, b);
      const el = now() - t;
      console.log(`B=${B} round ${round}: ${el.toFixed(0)} ms, ${(rows.length / el * 1000).toFixed(0)}/s`);
    }
  }
  const rows = roundSamples(fleet, 100).slice(0, 500);
  t = now();
  for (const b of chunk(rows, 1)) await insertSessionSamples(d.db, b);
  console.log(`B=1: ${(500 / (now() - t) * 1000).toFixed(0)}/s`);
  console.log((await d.pool.query("select count(*) from setpoints")).rows, (await d.pool.query("select count(*) from setpoint_commands")).rows);
} finally {
  await cluster.stop();
}
