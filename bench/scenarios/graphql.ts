// 2. The same ingest through the GraphQL batch mutation recordSessionSamples over HTTP, against
// the real service started in-process (production mode, silent logs). Batches of 1,000, sent one
// at a time; the SQL path on the same database and fleet, interleaved round by round, is the
// reference (the difference is HTTP, JSON, GraphQL coercion and validation).
import { chunk, roundSamples } from "../lib/data.js";
import { type BatchRun, mergeRuns, randomSites, runBatches, verifySetpoints, withSeededFleet } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { RECORD_SAMPLES, sampleInput, startService } from "../lib/service.js";
import { fmtMs, fmtNum, fmtRatio, now, summarize } from "../lib/stats.js";
import { throughput } from "./ingest.js";

const BATCH = 1000;

export const graphqlScenario: Scenario = {
  name: "graphql",
  title: "GraphQL recordSessionSamples over HTTP, batch 1,000, 1,000 sites x 20 sessions",
  run(ctx) {
    return withSeededFleet(ctx, "graphql", async (database, fleet) => {
      const service = await startService(ctx, database);
      try {
        const rounds = ctx.quick ? 1 : 5;
        const http: BatchRun[] = [];
        const direct: BatchRun[] = [];
        let round = 1;
        for (let r = 0; r < rounds; r++) {
          ctx.log(`graphql: round ${r + 1}/${rounds} over HTTP`);
          const samples = roundSamples(fleet, round++);
          const latenciesMs: number[] = [];
          const start = now();
          for (const batch of chunk(samples, BATCH)) {
            const t = now();
            const data = await service.gql<{ recordSessionSamples: { accepted: number } }>(RECORD_SAMPLES, {
              inputs: batch.map(sampleInput),
            });
            latenciesMs.push(now() - t);
            if (data.recordSessionSamples.accepted !== batch.length) {
              throw new Error(`accepted ${data.recordSessionSamples.accepted} of ${batch.length}`);
            }
          }
          http.push({
            samples: samples.length,
            batches: latenciesMs.length,
            totalMs: now() - start,
            latenciesMs,
            lastSites: [...new Set(samples.slice(-BATCH).map((s) => s.siteId))],
          });
          ctx.log(`graphql: round ${r + 1}/${rounds} through the SQL path (reference)`);
          direct.push(await runBatches(database.db, roundSamples(fleet, round++), BATCH));
        }
        const viaHttp = mergeRuns(http);
        const viaSql = mergeRuns(direct);
        const h = summarize(viaHttp.latenciesMs);
        const s = summarize(viaSql.latenciesMs);
        const verification = await verifySetpoints(database.pool, [...viaSql.lastSites, ...randomSites(fleet, 3)]);
        const rows: Row[] = [
          {
            metric: "batch 1,000 over HTTP: throughput",
            value: `${fmtNum(throughput(viaHttp))} samples/s`,
            baseline: `${fmtNum(throughput(viaSql))} (SQL path)`,
            ratio: fmtRatio(throughput(viaHttp) / throughput(viaSql)),
          },
          {
            metric: `batch 1,000 over HTTP: request latency p50 / p99 (n=${h.n})`,
            value: `${fmtMs(h.p50)} / ${fmtMs(h.p99)}`,
            baseline: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}`,
          },
          { metric: "setpoints current", value: verification.ok ? "ok" : `FAILED ${JSON.stringify(verification)}` },
        ];
        return {
          rows,
          data: {
            http: {
              samples: viaHttp.samples,
              totalMs: viaHttp.totalMs,
              samplesPerSecond: throughput(viaHttp),
              latencyMs: h,
            },
            sql: {
              samples: viaSql.samples,
              totalMs: viaSql.totalMs,
              samplesPerSecond: throughput(viaSql),
              latencyMs: s,
            },
            verification,
          },
        };
      } finally {
        await service.stop();
      }
    });
  },
};
