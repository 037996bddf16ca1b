// 1. Ingest throughput through the SQL path: insertStream(db, INPUT_STREAMS.sessionSamples, rows) does one INSERT per
// batch and the statement-level trigger recomputes every touched site before it returns, so each
// setpoint is current when the call returns. 1,000 sites x 20 sessions, rounds in natural order.
import { chunk, roundSamples } from "../lib/data.js";
import {
  type BatchRun,
  describeVerification,
  mergeRuns,
  randomSites,
  runBatches,
  type Verification,
  verifySetpoints,
  withSeededFleet,
} from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { fmtMs, fmtNum, now, summarize } from "../lib/stats.js";

interface Plan {
  size: number;
  rounds: number;
  maxBatches?: number;
  maxMs?: number;
  /** false: every sample repeats the previous values, so no setpoint changes (recompute only). */
  changing?: boolean;
}

export function throughput(run: BatchRun): number {
  return run.totalMs > 0 ? (run.samples / run.totalMs) * 1000 : Number.NaN;
}

export function batchRows(label: string, run: BatchRun): Row[] {
  const s = summarize(run.latenciesMs);
  return [
    { metric: `${label}: throughput`, value: `${fmtNum(throughput(run))} samples/s` },
    {
      metric: `${label}: batch latency p50 / p99 (n=${s.n})`,
      value: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}`,
    },
  ];
}

export const ingestScenario: Scenario = {
  name: "ingest",
  title: "SQL ingest, 1,000 sites x 20 sessions",
  run(ctx) {
    return withSeededFleet(ctx, "ingest", async (database, fleet) => {
      const plans: Plan[] = ctx.quick
        ? [
            { size: 1, rounds: 1, maxBatches: 300, maxMs: 10_000 },
            { size: 100, rounds: 1, maxBatches: 50 },
            { size: 1000, rounds: 1 },
            { size: 10_000, rounds: 2 },
            { size: 1000, rounds: 1, maxBatches: 10, changing: false },
          ]
        : [
            { size: 1, rounds: 1, maxBatches: 2000, maxMs: 60_000 },
            { size: 100, rounds: 1, maxBatches: 200 },
            { size: 1000, rounds: 5 },
            { size: 10_000, rounds: 3 },
            { size: 1000, rounds: 1, maxBatches: 20, changing: false },
          ];
      let round = 1;
      const rows: Row[] = [];
      const data: Record<string, unknown> = { fleet: { sites: fleet.sites, sessionsPerSite: fleet.sessionsPerSite } };
      const verifications: Verification[] = [];
      for (const plan of plans) {
        const changing = plan.changing !== false;
        const to = plan.maxBatches ? Math.ceil((plan.maxBatches * plan.size) / fleet.sessionsPerSite) : fleet.sites;
        const ratedRound = round - 1;
        if (!changing) {
          // An unmeasured round with the previous rated powers first, so the measured one changes nothing.
          await runBatches(database.db, roundSamples(fleet, round, { ratedRound, to }), plan.size);
          round += 1;
        }
        const runs: BatchRun[] = [];
        let lastTs = new Date(0);
        for (let r = 0; r < plan.rounds; r++) {
          const samples = roundSamples(fleet, round, changing ? { to } : { to, ratedRound });
          lastTs = samples[0]?.sampledTs ?? lastTs;
          round += 1;
          ctx.log(`ingest: batch ${fmtNum(plan.size)}${changing ? "" : " (unchanged)"}, round ${r + 1}/${plan.rounds}`);
          runs.push(await runBatches(database.db, samples, plan.size, plan));
        }
        const run = mergeRuns(runs);
        const label = `batch ${fmtNum(plan.size)}${changing ? "" : ", setpoints unchanged"}`;
        rows.push(...batchRows(label, run));
        const checked = [...run.lastSites, ...randomSites(fleet, 3, round)];
        const fresh = await verifySetpoints(database.pool, run.lastSites, plan.size >= 20 ? lastTs : undefined);
        const random = await verifySetpoints(database.pool, checked);
        const verification = { ...random, ok: fresh.ok && random.ok, staleSessions: fresh.staleSessions };
        verifications.push(verification);
        data[label] = {
          samples: run.samples,
          batches: run.batches,
          totalMs: run.totalMs,
          samplesPerSecond: throughput(run),
          latencyMs: summarize(run.latenciesMs),
          verification,
        };
      }
      // Two writers at once on disjoint sites (alternate batches of a round): the triggers lock
      // only the sites they touch, so batches of different sites run in parallel on the 2 cores.
      // Rounds alternate with single-writer rounds, the in-run reference.
      {
        const rounds = ctx.quick ? 1 : 5;
        const single: BatchRun[] = [];
        const dual: BatchRun[] = [];
        for (let r = 0; r < rounds; r++) {
          ctx.log(`ingest: batch 1,000, 1 writer then 2 concurrent writers, round ${r + 1}/${rounds}`);
          single.push(await runBatches(database.db, roundSamples(fleet, round++), 1000));
          const batches = chunk(roundSamples(fleet, round++), 1000);
          const start = now();
          const lanes = await Promise.all(
            [0, 1].map((lane) => runBatches(database.db, batches.filter((_, i) => i % 2 === lane).flat(), 1000)),
          );
          dual.push({ ...mergeRuns(lanes), totalMs: now() - start });
        }
        const one = mergeRuns(single);
        const two = mergeRuns(dual);
        const [tp, lat] = batchRows("batch 1,000, 2 concurrent writers", two);
        if (tp && lat) {
          const s1 = summarize(one.latenciesMs);
          rows.push(
            {
              ...tp,
              baseline: `${fmtNum(throughput(one))} (1 writer)`,
              ratio: `${fmtNum(throughput(two) / throughput(one), 2)}x`,
            },
            { ...lat, baseline: `${fmtMs(s1.p50)} / ${fmtMs(s1.p99)}` },
          );
        }
        data["batch 1,000, 2 concurrent writers"] = {
          samples: two.samples,
          totalMs: two.totalMs,
          samplesPerSecond: throughput(two),
          latencyMs: summarize(two.latenciesMs),
          reference1Writer: { samplesPerSecond: throughput(one), latencyMs: summarize(one.latenciesMs) },
        };
        const check = await verifySetpoints(database.pool, randomSites(fleet, 5, round));
        verifications.push(check);
      }
      const allOk = verifications.every((v) => v.ok);
      const last = verifications.at(-1);
      rows.push({
        metric: "setpoints current after each batch size",
        value:
          allOk && last ? describeVerification(last) : `FAILED (${JSON.stringify(verifications.filter((v) => !v.ok))})`,
      });
      data.verified = allOk;
      const commands = await database.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM setpoint_commands");
      data.commandsIssued = commands.rows[0]?.n;
      return { rows, data };
    });
  },
};
