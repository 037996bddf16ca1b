// Properties of the allocation rule over random sites (fast-check), checked on what the SQL wrote.
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { at, demand, dr, price, samples, setClock, T0 } from "../helpers/events.js";

let t: TestDatabase;
let siteCounter = 0;
beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterAll(async () => {
  await t.drop();
});

const kw = (max: number) =>
  fc.double({ min: 0, max, noNaN: true, noDefaultInfinity: true }).map((x) => Math.round(x * 1000) / 1000);

const siteArbitrary = fc.record({
  policy: fc.constantFrom("WATER_FILL", "EQUAL_SHARE", "BID_WEIGHTED"),
  minRate: fc.constantFrom(0, 1.4, 3, 6, 11),
  limit: kw(500),
  building: kw(300),
  evLoad: kw(200),
  tier: fc.constantFrom(null, "OFF_PEAK", "MID_PEAK", "ON_PEAK", "CRITICAL_PEAK"),
  drPct: fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }),
  baseline: fc.option(kw(400), { nil: null }),
  rated: fc.array(fc.oneof(fc.constantFrom(3.7, 7.4, 11, 22, 50, 150), kw(350)), { minLength: 1, maxLength: 25 }),
  // The i-th session's bid (absent: the reserve price, here the tariff price) and priority.
  bids: fc.array(fc.option(fc.constantFrom(0, 0.05, 0.1, 0.3, 1, 2.5), { nil: undefined }), { maxLength: 25 }),
  priorities: fc.array(fc.option(fc.integer({ min: -2, max: 2 }), { nil: undefined }), { maxLength: 25 }),
});

type SiteCase = typeof siteArbitrary extends fc.Arbitrary<infer T> ? T : never;

interface Row {
  session_id: string;
  setpoint_kw: number;
  limited_by: string;
  rated_power_kw: number;
  session_start_ts: Date;
  bid: number;
  priority: number;
}

async function allocate(c: SiteCase): Promise<{ cap: number; target: number; minRate: number; rows: Row[] }> {
  siteCounter += 1;
  const site = `prop-${siteCounter}`;
  await t.pool.query("INSERT INTO sites (site_id, policy, min_rate_kw) VALUES ($1, $2, $3)", [
    site,
    c.policy,
    c.minRate,
  ]);
  await demand(t.pool, site, { limit: c.limit, current: c.building + c.evLoad, ev: c.evLoad });
  if (c.tier) await price(t.pool, site, { tier: c.tier, from: at(-60), to: at(3600) });
  if (c.drPct !== null)
    await dr(t.pool, site, { pct: c.drPct, baseline: c.baseline ?? 0, start: at(-60), end: at(3600) });
  await samples(
    t.pool,
    c.rated.map((rated, i) => ({
      session: `${site}-${String(i).padStart(2, "0")}`,
      site,
      rated,
      start: at(i),
      bid: c.bids[i],
      priority: c.priorities[i],
    })),
  );
  const { rows: siteRows } = await t.pool.query("SELECT ev_cap_kw, target_kw FROM sites WHERE site_id = $1", [site]);
  const { rows } = await t.pool.query<Row>(
    `SELECT sp.session_id, sp.setpoint_kw, sp.limited_by, s.rated_power_kw, s.session_start_ts,
            coalesce(s.bid_usd_kwh, st.price_usd_kwh) AS bid, coalesce(s.priority, 0) AS priority
     FROM setpoints sp JOIN sessions s USING (session_id) JOIN sites st ON st.site_id = sp.site_id
     WHERE sp.site_id = $1 ORDER BY coalesce(s.priority, 0) DESC, s.session_start_ts`,
    [site],
  );
  return { cap: siteRows[0].ev_cap_kw, target: siteRows[0].target_kw, minRate: c.minRate, rows };
}

const EPS = 1e-9;
const floor2 = (x: number) => Math.floor(x * 100 + 1e-9) / 100;

test("invariants of SPEC §3 hold for random sites", async () => {
  await fc.assert(
    fc.asyncProperty(siteArbitrary, async (c) => {
      const { cap, target, minRate, rows } = await allocate(c);
      expect(rows).toHaveLength(c.rated.length);
      const total = rows.reduce((sum, r) => sum + r.setpoint_kw, 0);
      // The hard cap C is never exceeded.
      expect(total).toBeLessThanOrEqual(cap + EPS);
      const admitted = rows.filter((r) => r.limited_by !== "NOT_ADMITTED");
      for (const r of rows) {
        // Never above rated power, never negative, in 0.01 kW steps.
        expect(r.setpoint_kw).toBeGreaterThanOrEqual(0);
        expect(r.setpoint_kw).toBeLessThanOrEqual(r.rated_power_kw + EPS);
        expect(Math.abs(r.setpoint_kw * 100 - Math.round(r.setpoint_kw * 100))).toBeLessThan(1e-6);
        if (r.limited_by === "NOT_ADMITTED") expect(r.setpoint_kw).toBe(0);
      }
      // Every admitted session gets at least its lo_i (rounded down to 0.01).
      for (const r of admitted)
        expect(r.setpoint_kw).toBeGreaterThanOrEqual(floor2(Math.min(minRate, r.rated_power_kw)) - EPS);
      // Admission is a prefix in (priority, arrival) order, and the first one left out really did not fit.
      const firstOut = rows.findIndex((r) => r.limited_by === "NOT_ADMITTED");
      if (firstOut >= 0) {
        expect(rows.slice(firstOut).every((r) => r.limited_by === "NOT_ADMITTED")).toBe(true);
        const los = rows.slice(0, firstOut + 1).reduce((s, r) => s + Math.min(minRate, r.rated_power_kw), 0);
        expect(los).toBeGreaterThan(cap - EPS);
      }
      if (c.policy !== "EQUAL_SHARE" && admitted.length > 0) {
        const sumLo = admitted.reduce((s, r) => s + Math.min(minRate, r.rated_power_kw), 0);
        const sumHi = admitted.reduce((s, r) => s + r.rated_power_kw, 0);
        const amount = Math.max(target, sumLo);
        // Nothing wasted: the whole amount is handed out, up to what the sessions can take.
        expect(total).toBeGreaterThanOrEqual(Math.min(amount, sumHi) - 0.01 * admitted.length - 1e-6);
      }
      if (c.policy === "WATER_FILL" && admitted.length > 0) {
        // Max-min fair: a session below its rated power is not below anyone else (beyond rounding).
        const highest = Math.max(...admitted.map((r) => r.setpoint_kw));
        for (const r of admitted) {
          if (r.setpoint_kw < r.rated_power_kw - 0.01)
            expect(r.setpoint_kw).toBeGreaterThanOrEqual(highest - 0.01 - EPS);
        }
      }
      if (c.policy === "BID_WEIGHTED") {
        // Weighted max-min: the sessions between their bounds get kW in proportion to their bids
        // (one level L = kW / bid, beyond rounding down to 0.01); one held at its minimum would
        // not get more at L; one below rated power with a bid of 0 is at its minimum while a
        // bidder is below its rated power.
        const lo = (r: Row) => Math.min(minRate, r.rated_power_kw);
        const free = admitted.filter(
          (r) => r.bid > 0 && r.setpoint_kw > lo(r) + 0.01 && r.setpoint_kw < r.rated_power_kw - 0.01,
        );
        if (free.length > 0) {
          const low = Math.max(...free.map((r) => r.setpoint_kw / r.bid));
          const high = Math.min(...free.map((r) => (r.setpoint_kw + 0.01) / r.bid));
          expect(low).toBeLessThanOrEqual(high + 1e-6);
          for (const r of admitted) {
            if (r.bid > 0 && r.setpoint_kw <= lo(r) + 0.01 && r.rated_power_kw > lo(r) + 0.01)
              expect(r.bid * low).toBeLessThanOrEqual(lo(r) + 0.01 + 1e-6);
            if (r.bid === 0) expect(r.setpoint_kw).toBeLessThanOrEqual(lo(r) + EPS);
          }
        }
      }
    }),
    { numRuns: 150 },
  );
}, 120_000);

// SPEC §3 "Commands and deadband": over a random sequence of events on one site, after every
// commit the commanded values of the site's active sessions add up to at most C, and every
// command is one the rule allows (first, to or from 0, a move of at least the deadband, or a
// smaller cut that the cap needed).
const stepArbitrary = fc.oneof(
  fc.record({ kind: fc.constant("demand" as const), limit: kw(120), building: kw(60) }),
  fc.record({
    kind: fc.constant("rated" as const),
    session: fc.nat(5),
    rated: fc.constantFrom(7.4, 11, 19.8, 22, 21.7),
  }),
  fc.record({
    kind: fc.constant("price" as const),
    tier: fc.constantFrom("OFF_PEAK", "MID_PEAK", "ON_PEAK", "CRITICAL_PEAK"),
  }),
  fc.record({ kind: fc.constant("end" as const), session: fc.nat(5) }),
  // A small drop of the limit: the cuts it causes are under the deadband, but the cap tightens.
  fc.record({ kind: fc.constant("nudge" as const), by: fc.integer({ min: 1, max: 49 }) }),
  fc.record({ kind: fc.constant("nudge" as const), by: fc.integer({ min: 1, max: 49 }) }),
);

test("the commanded sum of a site never exceeds C, over random event sequences", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(0, 0.5, 2),
      fc.array(stepArbitrary, { minLength: 1, maxLength: 12 }),
      async (deadband, steps) => {
        siteCounter += 1;
        const site = `seq-${siteCounter}`;
        await t.pool.query("INSERT INTO sites (site_id, deadband_kw) VALUES ($1, $2)", [site, deadband]);
        await demand(t.pool, site, { limit: 80, current: 0, ev: 0, ts: at(0) });
        const rated = [22, 11, 7.4, 22, 19.8, 22];
        const session = (i: number) => `${site}-${i}`;
        await samples(
          t.pool,
          rated.map((r, i) => ({ session: session(i), site, rated: r, start: at(i), ts: at(0) })),
        );
        let ts = 0;
        let limit = 80;
        let building = 0;
        for (const step of steps) {
          ts += 1;
          if (step.kind === "demand" || step.kind === "nudge") {
            if (step.kind === "demand") [limit, building] = [step.limit, step.building];
            else limit = Math.max(0, Math.round((limit - step.by / 100) * 100) / 100);
            await demand(t.pool, site, { limit, current: building, ev: 0, ts: at(ts) });
          } else if (step.kind === "rated")
            await samples(t.pool, [
              { session: session(step.session), site, rated: step.rated, start: at(step.session), ts: at(ts) },
            ]);
          else if (step.kind === "price")
            await price(t.pool, site, { tier: step.tier, from: at(-60), to: at(3600), tariff: `t${ts}` });
          else
            await t.pool.query(
              "INSERT INTO session_ends_raw (session_id, ended_at, source) VALUES ($1, $2, 'graphql')",
              [session(step.session), at(ts)],
            );
          const { rows } = await t.pool.query(
            `SELECT coalesce(sum(sp.commanded_kw), 0)::float AS commanded, st.ev_cap_kw::float AS cap
             FROM sites st LEFT JOIN setpoints sp ON sp.site_id = st.site_id
               AND EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = sp.session_id AND s.ended_at IS NULL)
             WHERE st.site_id = $1 GROUP BY st.ev_cap_kw`,
            [site],
          );
          expect(rows[0].commanded).toBeLessThanOrEqual(rows[0].cap + EPS);
        }
        // Every command with a previous value moved to or from 0, by at least the deadband, or down.
        // (The final SESSION_ENDED command of an ended session is apart: it is sent whatever it was.)
        const { rows: commands } = await t.pool.query<{ setpoint_kw: number; previous_kw: number | null }>(
          "SELECT setpoint_kw, previous_kw FROM setpoint_commands WHERE site_id = $1 AND limited_by <> 'SESSION_ENDED' ORDER BY seq",
          [site],
        );
        for (const c of commands) {
          if (c.previous_kw === null || (c.setpoint_kw === 0) !== (c.previous_kw === 0)) continue;
          if (c.setpoint_kw < c.previous_kw) continue;
          expect(c.setpoint_kw - c.previous_kw).toBeGreaterThanOrEqual(deadband - EPS);
          expect(c.setpoint_kw).not.toBe(c.previous_kw);
        }
      },
    ),
    { numRuns: 40 },
  );
}, 120_000);
