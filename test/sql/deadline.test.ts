// SPEC §10 DEADLINE: needed rates guaranteed first (least laxity first, under the hard cap), the
// price tier shrinks only what is left above them, the rest water-filled; ENERGY_MET.
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { activeAlerts, at, demand, price, samples, setClock, setpointsOf, T0 } from "../helpers/events.js";

let t: TestDatabase;
let site: string;
let n = 0;
beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterAll(async () => {
  await t.drop();
});
beforeEach(() => {
  n += 1;
  site = `deadline-${n}`;
});
const s = (name: string) => `${site}-${name}`;

const deadline = async (
  amount: number,
  cap: number,
  lo: number[],
  hi: number[],
  needed: (number | null)[],
  laxity: (number | null)[],
  urgent: boolean[] | null = null,
) => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_deadline($1, $2, $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[], $7::boolean[]) AS kw",
    [amount, cap, lo, hi, needed, laxity, urgent],
  );
  return (rows[0]?.kw ?? []).map(Number);
};

/** A site with the DEADLINE policy and a demand sample. */
/** The site's active DEADLINE_AT_RISK alerts (the clock jumps here make others hold too). */
const atRisk = async () => (await activeAlerts(t.pool, site)).filter((a) => a.startsWith("DEADLINE_AT_RISK"));

const deadlineSite = async (limit: number) => {
  await demand(t.pool, site, { limit, current: 0, ev: 0 });
  await t.pool.query("UPDATE sites SET policy = 'DEADLINE' WHERE site_id = $1", [site]);
};

describe("allocate_deadline", () => {
  test("guarantees are served in order of least laxity while the cap lasts", async () => {
    // Extras above lo: 7, 12, 17 kW; the cap leaves 30 - 9 = 21 kW for them. Laxity order b, c, a:
    // b gets its 12, c the 9 left, a nothing above its minimum.
    expect(await deadline(9, 30, [3, 3, 3], [22, 22, 22], [10, 15, 20], [2, 0.5, 1])).toEqual([3, 15, 12]);
    // The same with room to spare: every need is met and the rest water-filled above them.
    expect(await deadline(60, 60, [3, 3, 3], [22, 22, 22], [10, 15, 20], [2, 0.5, 1])).toEqual([20, 20, 20]);
    expect(await deadline(50, 60, [3, 3, 3], [22, 22, 22], [10, 15, 20], [2, 0.5, 1])).toEqual([15, 15, 20]);
  });

  test("the amount never cuts a guarantee; what is above them is water-filled", async () => {
    // Amount 20 (a price target) under a cap of 40: the need of 16 stands, the other gets 4.
    expect(await deadline(20, 40, [3, 3], [22, 22], [16, null], [0.3, null])).toEqual([16, 4]);
    // Needs above the amount: the amount grows to their sum.
    expect(await deadline(10, 40, [3, 3], [22, 22], [16, 12], [0.3, 0.5])).toEqual([16, 12]);
  });

  test("with no deadline at all it is WATER_FILL", async () => {
    const { rows } = await t.pool.query<{ kw: string[] }>(
      "SELECT allocate_water_fill(30, ARRAY[3, 3, 3]::numeric[], ARRAY[7, 22, 22]::numeric[]) AS kw",
    );
    expect(await deadline(30, 40, [3, 3, 3], [7, 22, 22], [null, null, null], [null, null, null])).toEqual(
      (rows[0]?.kw ?? []).map(Number),
    );
  });

  test("lo <= kW <= hi, sum <= cap, sum >= min(amount, sum hi), guarantees kept in laxity order (random)", async () => {
    const session = fc
      .record({
        lo: fc.integer({ min: 0, max: 500 }),
        span: fc.integer({ min: 0, max: 3000 }),
        needed: fc.option(fc.integer({ min: 0, max: 4000 }), { nil: null }),
        laxity: fc.integer({ min: -100, max: 100 }),
      })
      .map(({ lo, span, needed, laxity }) => ({
        lo: lo / 100,
        hi: (lo + span) / 100,
        needed: needed === null ? null : needed / 100,
        laxity: needed === null ? null : laxity / 10,
      }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(session, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        async (sessions, capExtra, amountPart) => {
          const sumLo = sessions.reduce((a, x) => a + x.lo, 0);
          const sumHi = sessions.reduce((a, x) => a + x.hi, 0);
          const cap = sumLo + capExtra / 100;
          const amount = sumLo + ((cap - sumLo) * amountPart) / 100_000;
          const out = await deadline(
            amount,
            cap,
            sessions.map((x) => x.lo),
            sessions.map((x) => x.hi),
            sessions.map((x) => x.needed),
            sessions.map((x) => x.laxity),
          );
          // The reference guarantees: extras above lo granted in laxity order (NULLs last) under the cap.
          const order = sessions
            .map((x, i) => ({ ...x, i }))
            .sort((a, b) =>
              a.laxity === b.laxity
                ? a.i - b.i
                : a.laxity === null
                  ? 1
                  : b.laxity === null
                    ? -1
                    : a.laxity - b.laxity || a.i - b.i,
            );
          const g: number[] = sessions.map((x) => x.lo);
          let budget = cap - sumLo;
          for (const x of order) {
            const extra = Math.min(x.hi, Math.max(x.lo, x.needed ?? 0)) - x.lo;
            const granted = Math.min(extra, Math.max(0, budget));
            g[x.i] = x.lo + granted;
            budget -= extra;
          }
          const tol = 1e-6;
          const total = out.reduce((a, b) => a + b, 0);
          expect(total).toBeLessThanOrEqual(cap + tol);
          expect(total).toBeGreaterThanOrEqual(Math.min(amount, sumHi) - tol);
          sessions.forEach((x, i) => {
            expect(out[i]).toBeGreaterThanOrEqual((g[i] ?? 0) - tol);
            expect(out[i]).toBeGreaterThanOrEqual(x.lo - tol);
            expect(out[i]).toBeLessThanOrEqual(x.hi + tol);
          });
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe("DEADLINE at a site", () => {
  test("ON_PEAK: the deadline session keeps its needed rate, only the flexible energy waits", async () => {
    await deadlineSite(40);
    await price(t.pool, site, { tier: "ON_PEAK", usd: 0.3, from: at(-60), to: at(1800) });
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.1, from: at(1800), to: at(7200), tariff: "night" });
    await samples(t.pool, [
      // 18 kWh in 1 h, 11 of them in the cheaper half hour at 22 kW: 7 kWh in 0.5 h, 14 kW now.
      { session: s("deadline"), site, rated: 22, departure: at(3600), requested: 22, energy: 4 },
      { session: s("flexible"), site, rated: 22 },
    ]);
    // T = 40 x 0.5 = 20; the guarantees (14 + the other's 3) fit, the 3 left are water-filled.
    let sp = await setpointsOf(t.pool, site);
    expect(sp[s("deadline")]).toMatchObject({ setpoint_kw: 14, limited_by: "DEADLINE" });
    expect(sp[s("flexible")]).toMatchObject({ setpoint_kw: 6, limited_by: "PRICE_TIER" });
    // Under WATER_FILL both would get 10.
    await t.pool.query("UPDATE sites SET policy = 'WATER_FILL' WHERE site_id = $1", [site]);
    sp = await setpointsOf(t.pool, site);
    expect(sp[s("deadline")]).toMatchObject({ setpoint_kw: 10 });
    expect(sp[s("flexible")]).toMatchObject({ setpoint_kw: 10 });
  });

  test("nothing cheaper before its departure: the session is urgent and gets its rate from C, not T", async () => {
    await deadlineSite(40);
    await price(t.pool, site, { tier: "ON_PEAK", from: at(-60), to: at(7200) });
    await samples(t.pool, [
      { session: s("urgent"), site, rated: 22, departure: at(3600), requested: 20, energy: 4 },
      { session: s("flexible"), site, rated: 22 },
    ]);
    // Holding it back for the price saves nothing: 22 kW (C = 40), the flexible one its minimum
    // (T = 20 is already used up).
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("urgent")]).toMatchObject({ setpoint_kw: 22, limited_by: "RATED_POWER" });
    expect(sp[s("flexible")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
  });

  test("a short cap serves the least laxity first; sum <= C, >= lo, <= hi", async () => {
    await deadlineSite(30);
    await samples(t.pool, [
      // needs 10 kW, laxity 2 - 10/22 h
      { session: s("a"), site, rated: 22, departure: at(7200), requested: 20 },
      // needs 20 kW, laxity 1 - 20/22 h: the least
      { session: s("b"), site, rated: 22, departure: at(3600), requested: 20 },
      // needs 15 kW, laxity 2 - 30/22 h
      { session: s("c"), site, rated: 22, departure: at(7200), requested: 30 },
    ]);
    const sp = await setpointsOf(t.pool, site);
    // Cap 30, minimums 9: b's 17 extra, then c's 12 (only 4 left), a held at its minimum.
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 20, limited_by: "DEADLINE" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 7, limited_by: "SITE_LIMIT" });
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
  });

  test("a departure already passed needs the rated power", async () => {
    await deadlineSite(30);
    await setClock(t.pool, at(7200));
    try {
      await samples(t.pool, [
        { session: s("late"), site, rated: 11, departure: at(3600), requested: 30, energy: 10, ts: at(7200) },
        { session: s("other"), site, rated: 22, ts: at(7200) },
      ]);
      const sp = await setpointsOf(t.pool, site);
      expect(sp[s("late")]).toMatchObject({ setpoint_kw: 11, limited_by: "RATED_POWER" });
      expect(sp[s("other")]).toMatchObject({ setpoint_kw: 19 });
    } finally {
      await setClock(t.pool, T0);
    }
  });

  test("a session whose requested energy is delivered has no minimum and no guarantee: ENERGY_MET", async () => {
    await deadlineSite(30);
    await price(t.pool, site, { tier: "MID_PEAK", usd: 0.2, from: at(-60), to: at(1800) });
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.1, from: at(1800), to: at(7200), tariff: "night" });
    await samples(t.pool, [
      { session: s("done"), site, rated: 22, departure: at(3600), requested: 10, energy: 10 },
      { session: s("open"), site, rated: 22, requested: 40, energy: 40.5 },
      { session: s("other"), site, rated: 22 },
    ]);
    // T = 30 x 0.8 = 24, shared from lo = 0 (met) and 3: 8 each, ENERGY_MET below their rate.
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("done")]).toMatchObject({ setpoint_kw: 8, limited_by: "ENERGY_MET" });
    expect(sp[s("open")]).toMatchObject({ setpoint_kw: 8, limited_by: "ENERGY_MET" });
    expect(sp[s("other")]).toMatchObject({ setpoint_kw: 8, limited_by: "PRICE_TIER" });
    // Under a short cap a met session needs no minimum: the others are admitted first.
    await demand(t.pool, site, { limit: 6, current: 0, ev: 0, ts: at(1) });
    // T = 6 x 0.8 = 4.8: other keeps its minimum 3, the met ones share the 1.8 left.
    expect(await setpointsOf(t.pool, site)).toMatchObject({
      [s("done")]: { setpoint_kw: 0.9, limited_by: "ENERGY_MET" },
      [s("open")]: { setpoint_kw: 0.9, limited_by: "ENERGY_MET" },
      [s("other")]: { setpoint_kw: 3, limited_by: "MIN_RATE" },
    });
  });

  test("the meter value that completes the request reallocates the site", async () => {
    await deadlineSite(5);
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, departure: at(3600), requested: 10, energy: 9 },
      { session: s("b"), site, rated: 22 },
    ]);
    // Minimums 3 + 3 do not fit in 5: a (a deadline, least laxity) is admitted, b is not.
    expect(await setpointsOf(t.pool, site)).toMatchObject({
      [s("a")]: { setpoint_kw: 5 },
      [s("b")]: { setpoint_kw: 0, limited_by: "NOT_ADMITTED" },
    });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, departure: at(3600), requested: 10, energy: 10, ts: at(5), current: 5 },
    ]);
    // Met: no minimum, so b is admitted at 3; a (urgent, nothing cheaper ahead) keeps the 2 left.
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 2, limited_by: "ENERGY_MET" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
  });

  test("sessions without a departure or a request share like WATER_FILL", async () => {
    await deadlineSite(30);
    await samples(t.pool, [
      { session: s("a"), site, rated: 3.7 },
      { session: s("b"), site, rated: 22, departure: at(3600) },
      { session: s("c"), site, rated: 22, requested: 30 },
    ]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3.7, limited_by: "RATED_POWER" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 13.15, limited_by: "SITE_LIMIT" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 13.15, limited_by: "SITE_LIMIT" });
  });
});

describe("the departure as a time boundary", () => {
  test("the earliest future departure is the site's next boundary; at it the session needs its rated power", async () => {
    await setClock(t.pool, at(0));
    try {
      await deadlineSite(10);
      await samples(t.pool, [
        // 0.01 kWh in 20 s: 1.8 kW needed, below the minimum; but nothing cheaper comes before its
        // departure, so it takes what the cap leaves over b's minimum.
        { session: s("a"), site, rated: 22, departure: at(20), requested: 0.01 },
        { session: s("b"), site, rated: 22, departure: at(90) },
      ]);
      const boundary = async () =>
        (
          await t.pool.query<{ at: Date }>("SELECT next_boundary_at AS at FROM sites WHERE site_id = $1", [site])
        ).rows[0]?.at.toISOString();
      // Before the deviation grace of the first commands (30 s); b has no request but departs too.
      expect(await boundary()).toBe(at(20));
      let sp = await setpointsOf(t.pool, site);
      expect(sp[s("a")]).toMatchObject({ setpoint_kw: 7 });
      expect(sp[s("b")]).toMatchObject({ setpoint_kw: 3 });

      // No new event: the scheduler's recompute at the departure.
      await setClock(t.pool, at(20));
      await t.pool.query("SELECT recompute_due_sites()");
      sp = await setpointsOf(t.pool, site);
      // Departed and not done: its rated power, as far as the cap lets (10 - b's minimum 3).
      expect(sp[s("a")]).toMatchObject({ setpoint_kw: 7, limited_by: "SITE_LIMIT" });
      expect(sp[s("b")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
      // A past departure is no boundary: the next one is the deviation grace of the commands
      // (0 + 30 s; nothing changed at 20 s, so no new command), then b's departure.
      expect(await boundary()).toBe(at(30));
      await setClock(t.pool, at(30));
      await t.pool.query("SELECT recompute_due_sites()");
      expect(await boundary()).toBe(at(90));
    } finally {
      await setClock(t.pool, T0);
    }
  });
});

describe("DEADLINE_AT_RISK (SPEC §4)", () => {
  test("raised when the remaining energy does not fit by departure at the setpoint, under any policy; cleared when it does", async () => {
    await demand(t.pool, site, { limit: 10, current: 0, ev: 0 });
    await samples(t.pool, [
      // 20 kWh in 1 h at 5 kW (WATER_FILL shares 10 kW): 5 kWh.
      { session: s("a"), site, rated: 22, departure: at(3600), requested: 20 },
      { session: s("b"), site, rated: 22 },
    ]);
    expect(await activeAlerts(t.pool, site)).toEqual([`DEADLINE_AT_RISK:${s("a")}`]);
    const { rows } = await t.pool.query<{ message: string }>(
      "SELECT message FROM alerts WHERE site_id = $1 AND type = 'DEADLINE_AT_RISK'",
      [site],
    );
    expect(rows[0]?.message).toBe(
      `Session ${s("a")} cannot get its requested 20.00 kWh (0.00 kWh delivered) by its departure at ${at(3600).replace(".000", "")} at 5.00 kW`,
    );
    // More capacity: WATER_FILL gives it 20 kW, just enough.
    await demand(t.pool, site, { limit: 40, current: 0, ev: 0, ts: at(1) });
    expect(await activeAlerts(t.pool, site)).toEqual([]);
  });

  test("under DEADLINE a needed rate rounded down to 0.01 kW is not a risk; a departure passed short is", async () => {
    await deadlineSite(40);
    await price(t.pool, site, { tier: "ON_PEAK", usd: 0.3, from: at(-60), to: at(3 * 3600) });
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.1, from: at(3 * 3600), to: at(5 * 3600), tariff: "night" });
    await samples(t.pool, [
      // 72 kWh in 4 h, 22 of them in the last (cheaper) hour: 50 kWh in 3 h, 16.666... kW
      // needed, 16.66 kW set.
      { session: s("a"), site, rated: 22, departure: at(4 * 3600), requested: 72 },
      { session: s("b"), site, rated: 22 },
    ]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 16.66, limited_by: "DEADLINE" });
    expect(await atRisk()).toEqual([]);

    await setClock(t.pool, at(4 * 3600));
    try {
      await samples(t.pool, [
        { session: s("a"), site, rated: 22, departure: at(4 * 3600), requested: 72, energy: 71, ts: at(4 * 3600) },
        { session: s("b"), site, rated: 22, ts: at(4 * 3600) },
      ]);
      expect(await atRisk()).toEqual([`DEADLINE_AT_RISK:${s("a")}`]);
      // The last kWh arrives: the request is met and the alert clears. The car may still take
      // more and nothing cheaper comes before it leaves, so it keeps its rate (a request is an
      // estimate; VEHICLE_DRAW caps a car that stops drawing).
      await samples(t.pool, [
        { session: s("a"), site, rated: 22, departure: at(4 * 3600), requested: 72, energy: 72, ts: at(4 * 3600 + 5) },
      ]);
      expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 22, limited_by: "RATED_POWER" });
      expect(await atRisk()).toEqual([]);
      const { rows } = await t.pool.query(
        "SELECT status FROM alerts WHERE site_id = $1 AND type = 'DEADLINE_AT_RISK' ORDER BY id",
        [site],
      );
      expect(rows.map((r) => r.status)).toEqual(["CLEARED"]);
    } finally {
      await setClock(t.pool, T0);
    }
  });
});

test("the DEADLINE worked example of docs/allocation.md (depot-7)", async () => {
  site = "depot-7-deadline";
  await deadlineSite(100);
  await demand(t.pool, site, { limit: 100, current: 70, ev: 30, ts: at(1) });
  await price(t.pool, site, { tier: "MID_PEAK", usd: 0.2, from: at(-3600), to: at(3 * 3600) });
  await samples(t.pool, [
    { session: s("A"), site, rated: 7.4, start: at(-4 * 3600) },
    { session: s("B"), site, rated: 22, start: at(-4 * 3600 + 300), departure: at(7200), requested: 50, energy: 10 },
    { session: s("C"), site, rated: 50, start: at(-4 * 3600 + 600), departure: at(7200), requested: 90, energy: 10 },
  ]);
  const sp = await setpointsOf(t.pool, site);
  expect(sp[s("A")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
  expect(sp[s("B")]).toMatchObject({ setpoint_kw: 20, limited_by: "DEADLINE" });
  expect(sp[s("C")]).toMatchObject({ setpoint_kw: 37, limited_by: "SITE_LIMIT" });
  expect(await atRisk()).toEqual([`DEADLINE_AT_RISK:${s("C")}`]);
  const { rows } = await t.pool.query("SELECT ev_cap_kw, target_kw FROM sites WHERE site_id = $1", [site]);
  expect(rows[0]).toMatchObject({ ev_cap_kw: 60, target_kw: 48 });

  // B's 50 kWh are delivered: no guarantee any more, so C (urgent: nothing cheaper before it
  // leaves) takes its full 50 kW; B keeps its rank among the sessions with a departure and takes
  // the 7 kW left over A's minimum (ENERGY_MET: below its rate because every need came first).
  await samples(t.pool, [
    {
      session: s("B"),
      site,
      rated: 22,
      start: at(-4 * 3600 + 300),
      departure: at(7200),
      requested: 50,
      energy: 50,
      ts: at(2),
    },
  ]);
  const after = await setpointsOf(t.pool, site);
  expect(after[s("B")]).toMatchObject({ setpoint_kw: 7, limited_by: "ENERGY_MET" });
  expect(after[s("C")]).toMatchObject({ setpoint_kw: 50, limited_by: "RATED_POWER" });
  expect(after[s("A")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
  expect(await atRisk()).toEqual([]);
});

describe("price look-ahead", () => {
  test("energy the rated power can deliver in strictly cheaper published intervals before departure is not needed now", async () => {
    await deadlineSite(40);
    await price(t.pool, site, { tier: "CRITICAL_PEAK", usd: 0.3, from: at(-60), to: at(3600) });
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.1, from: at(3600), to: at(3 * 3600), tariff: "tou-night" });
    await samples(t.pool, [
      // 50 kWh by 3 h: 44 of them fit in the 2 cheaper hours at 22 kW, 6 remain for this hour.
      { session: s("a"), site, rated: 22, departure: at(3 * 3600), requested: 50 },
      { session: s("b"), site, rated: 22 },
    ]);
    const sp = await setpointsOf(t.pool, site);
    // T = 40 x 0.2 = 8 < 6 + 3: a is held at its need (not the 16.67 kW of 50 kWh over 3 h),
    // b at its minimum.
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 6, limited_by: "DEADLINE" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
    // Not at risk: 6.01 kW for 1 h and 22 kW for 2 h cover the 50 kWh.
    expect(await atRisk()).toEqual([]);
    // A published interval at the same price is not cheaper; an unpublished gap never counts.
    const { rows } = await t.pool.query<{ same: string; gap: string; cheap: string }>(
      `SELECT cheaper_hours($1, $2, $3, 0.1) AS same, cheaper_hours($1, $2, $4, 0.3) AS gap,
              cheaper_hours($1, $2, $3, 0.3) AS cheap`,
      [site, at(0), at(3 * 3600), at(5 * 3600)],
    );
    expect([rows[0]?.same, rows[0]?.gap, rows[0]?.cheap].map(Number)).toEqual([0, 2, 2]);
  });

  test("WATER_FILL ignores the look-ahead: the alert judges its setpoint over all the hours left", async () => {
    await demand(t.pool, site, { limit: 10, current: 0, ev: 0 });
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.3, from: at(-60), to: at(3600) });
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.1, from: at(3600), to: at(3 * 3600), tariff: "tou-night" });
    await samples(t.pool, [{ session: s("a"), site, rated: 22, departure: at(3 * 3600), requested: 50 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 10 });
    expect(await atRisk()).toEqual([`DEADLINE_AT_RISK:${s("a")}`]);
  });
});
