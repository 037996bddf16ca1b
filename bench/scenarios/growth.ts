// 5. Growth: recompute cost per event as the fleet grows. Cost per event = time of a fixed number
// of batches, each touching a fixed number of sites, divided by the samples in them.
//   sites:    100 -> 1,000 -> 10,000 sites of 20 sessions; batches of 50 consecutive sites (1,000
//             samples) at random places, and batches of 1 site (20 samples) for the fixed cost
//             of a statement.
//   sessions: 5 -> 20 -> 200 sessions per site at 100 sites; batches of 5 sites (25 / 100 / 1,000
//             samples).
import type { Db } from "../../src/db/pool.js";
import { benchEpoch, type Fleet, roundSamples } from "../lib/data.js";
import { type BatchRun, runBatches, seedFleet, verifySetpoints } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { fmtMs, fmtNum, fmtRatio, fmtUs, summarize } from "../lib/stats.js";

/** `count` batches of `sitesPerBatch` consecutive sites starting at pseudo-random sites, each in a new round. */
async function measure(
  db: Db,
  fleet: Fleet,
  firstRound: number,
  count: number,
  sitesPerBatch: number,
): Promise<{ run: BatchRun; rounds: number }> {
  let x = 12345 + fleet.sites;
  const runs: BatchRun[] = [];
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const from = x % Math.max(1, fleet.sites - sitesPerBatch + 1);
    const samples = roundSamples(fleet, firstRound + i, { from, to: from + sitesPerBatch });
    runs.push(await runBatches(db, samples, samples.length));
  }
  const latenciesMs = runs.flatMap((r) => r.latenciesMs);
  return {
    run: {
      samples: runs.reduce((a, r) => a + r.samples, 0),
      batches: latenciesMs.length,
      totalMs: latenciesMs.reduce((a, b) => a + b, 0),
      latenciesMs,
      lastSites: runs.at(-1)?.lastSites ?? [],
    },
    rounds: count,
  };
}

const perEvent = (run: BatchRun) => run.totalMs / run.samples;

export const growthScenario: Scenario = {
  name: "growth",
  title: "cost per event as sites (100 -> 10,000) and sessions per site (5 -> 200) grow",
  async run(ctx) {
    const rows: Row[] = [];
    const data: Record<string, unknown> = {};
    const bigBatches = ctx.quick ? 8 : 50;
    const siteBatches = ctx.quick ? 20 : 100;

    // Sites grow in one database: 100, then 900 more, then 9,000 more.
    const database = await ctx.cluster.createDatabase("growth_sites");
    try {
      const t0 = benchEpoch();
      let seeded = 0;
      let round = 1;
      const bySites: { sites: number; big: BatchRun; small: BatchRun }[] = [];
      for (const sites of [100, 1000, 10_000]) {
        const fleet: Fleet = { prefix: "site", sites, sessionsPerSite: 20, t0 };
        ctx.log(`growth: seeding up to ${fmtNum(sites)} sites x 20 sessions`);
        await seedFleet(database, fleet, { from: seeded });
        seeded = sites;
        ctx.log(`growth: ${fmtNum(sites)} sites: ${bigBatches} batches of 50 sites, ${siteBatches} of 1 site`);
        const big = await measure(database.db, fleet, round, bigBatches, 50);
        round += big.rounds;
        const small = await measure(database.db, fleet, round, siteBatches, 1);
        round += small.rounds;
        const check = await verifySetpoints(database.pool, small.run.lastSites);
        if (!check.ok) throw new Error(`setpoints not current at ${sites} sites: ${JSON.stringify(check)}`);
        bySites.push({ sites, big: big.run, small: small.run });
      }
      const first = bySites[0];
      for (const point of bySites) {
        const b = summarize(point.big.latenciesMs);
        const s = summarize(point.small.latenciesMs);
        rows.push({
          metric: `${fmtNum(point.sites)} sites x 20: per event, batches of 50 sites (p50 batch ${fmtMs(b.p50)})`,
          value: fmtUs(perEvent(point.big)),
          baseline: first && point !== first ? `${fmtUs(perEvent(first.big))} @100` : "",
          ratio: first && point !== first ? fmtRatio(perEvent(point.big) / perEvent(first.big)) : "",
        });
        rows.push({
          metric: `${fmtNum(point.sites)} sites x 20: per event, batches of 1 site (p50 batch ${fmtMs(s.p50)})`,
          value: fmtUs(perEvent(point.small)),
          baseline: first && point !== first ? `${fmtUs(perEvent(first.small))} @100` : "",
          ratio: first && point !== first ? fmtRatio(perEvent(point.small) / perEvent(first.small)) : "",
        });
        data[`sites_${point.sites}`] = {
          batch50Sites: {
            samples: point.big.samples,
            totalMs: point.big.totalMs,
            usPerEvent: perEvent(point.big) * 1000,
            latencyMs: b,
          },
          batch1Site: {
            samples: point.small.samples,
            totalMs: point.small.totalMs,
            usPerEvent: perEvent(point.small) * 1000,
            latencyMs: s,
          },
        };
      }
    } finally {
      await database.drop();
    }

    // Sessions per site grow, a database each.
    const bySessions: { sessions: number; run: BatchRun }[] = [];
    for (const sessionsPerSite of [5, 20, 200]) {
      const db = await ctx.cluster.createDatabase(`growth_sessions_${sessionsPerSite}`);
      try {
        const fleet: Fleet = { prefix: "site", sites: 100, sessionsPerSite, t0: benchEpoch() };
        ctx.log(`growth: 100 sites x ${sessionsPerSite} sessions`);
        await seedFleet(db, fleet);
        const { run } = await measure(db.db, fleet, 1, bigBatches * 2, 5);
        const check = await verifySetpoints(db.pool, run.lastSites);
        if (!check.ok)
          throw new Error(`setpoints not current at ${sessionsPerSite} sessions/site: ${JSON.stringify(check)}`);
        bySessions.push({ sessions: sessionsPerSite, run });
      } finally {
        await db.drop();
      }
    }
    const ref = bySessions.find((p) => p.sessions === 20);
    for (const point of bySessions) {
      const l = summarize(point.run.latenciesMs);
      rows.push({
        metric: `100 sites x ${point.sessions}: per event, batches of 5 sites (p50 batch ${fmtMs(l.p50)})`,
        value: fmtUs(perEvent(point.run)),
        baseline: ref && point !== ref ? `${fmtUs(perEvent(ref.run))} @20` : "",
        ratio: ref && point !== ref ? fmtRatio(perEvent(point.run) / perEvent(ref.run)) : "",
      });
      data[`sessions_${point.sessions}`] = {
        samples: point.run.samples,
        totalMs: point.run.totalMs,
        usPerEvent: perEvent(point.run) * 1000,
        latencyMs: l,
      };
    }
    return { rows, data };
  },
};
