// SPEC §10 "Capacity a car does not use" (limitedBy VEHICLE_DRAW), one case per rule, in SQL; the
// vehicle's own limits (ev_max_kw, ev_min_kw) in the bounds; and which site-level bound limitedBy
// names when a DR cap binds during a price tier.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { at, demand, dr, price, type SampleSpec, samples, setClock, setpointsOf } from "../helpers/events.js";

let t: TestDatabase;
let site: string;
let base: string;
let n = 0;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});
beforeEach(async () => {
  n += 1;
  site = `draw-${n}`;
  // Each test on its own stretch of the clock, so no test's sessions time out in another's.
  base = at(n * 3600);
  await setClock(t.pool, base);
});
const s = (name: string) => `${site}-${name}`;

/** Meter values at `offset` s after the test's base (the clock moved there first). */
async function meter(offset: number, specs: Omit<SampleSpec, "site" | "ts" | "start">[]): Promise<void> {
  await setClock(t.pool, at(offset, base));
  await samples(
    t.pool,
    specs.map((spec) => ({ ...spec, session: s(spec.session), site, start: base, ts: at(offset, base) })),
  );
}

async function setpoints(): Promise<Record<string, { kw: number; by: string; commanded: number | null }>> {
  const rows = await setpointsOf(t.pool, site);
  return Object.fromEntries(
    Object.entries(rows).map(([id, r]) => [
      id.slice(site.length + 1),
      { kw: r.setpoint_kw, by: r.limited_by, commanded: r.commanded_kw },
    ]),
  );
}

const bAt15 = { session: "b", rated: 22, current: 15 };

async function drawState(name: string) {
  const { rows } = await t.pool.query(
    "SELECT draw_short_samples AS samples, draw_cap_kw AS cap FROM sessions WHERE session_id = $1",
    [s(name)],
  );
  return rows[0] as { samples: number; cap: number | null };
}

/** Two 22 kW sessions under a 30 kW cap: 15 kW each, commanded at the base time. */
async function twoSessions(policy = "WATER_FILL") {
  await t.pool.query("INSERT INTO sites (site_id, policy) VALUES ($1, $2)", [site, policy]);
  await demand(t.pool, site, { limit: 30, current: 0, ev: 0, ts: base });
  await meter(0, [
    { session: "a", rated: 22, current: 0 },
    { session: "b", rated: 22, current: 0 },
  ]);
  expect(await setpoints()).toMatchObject({ a: { kw: 15, commanded: 15 }, b: { kw: 15, commanded: 15 } });
}

describe("VEHICLE_DRAW: capacity a car does not use", () => {
  test("drawing short of its command by more than the margin for the hold (two values, 60 s) caps it at draw + margin; the rest goes to the others", async () => {
    await twoSessions();
    // Margin against 15 kW: max(1, 20 % x 15) = 3; 5 kW < 15 - 3 is short.
    await meter(60, [
      { session: "a", rated: 22, current: 5 },
      { session: "b", rated: 22, current: 15 },
    ]);
    expect(await drawState("a")).toEqual({ samples: 1, cap: null });
    expect((await setpoints()).a).toMatchObject({ kw: 15 });
    // The second short value, 60 s after the first, proves the hold: cap 5 + 3 = 8, b takes 22.
    await meter(120, [
      { session: "a", rated: 22, current: 5 },
      { session: "b", rated: 22, current: 15 },
    ]);
    expect(await drawState("a")).toEqual({ samples: 0, cap: 8 });
    expect(await setpoints()).toEqual({
      a: { kw: 8, by: "VEHICLE_DRAW", commanded: 8 },
      b: { kw: 22, by: "RATED_POWER", commanded: 22 },
    });
  });

  test("two short values inside the hold time do not cap; one value within the margin ends the run", async () => {
    await twoSessions();
    await meter(60, [{ session: "a", rated: 22, current: 5 }]);
    await meter(90, [{ session: "a", rated: 22, current: 5 }]);
    expect(await drawState("a")).toEqual({ samples: 2, cap: null });
    // 12.5 kW is within 3 kW of 15: the run starts over.
    await meter(130, [{ session: "a", rated: 22, current: 12.5 }]);
    expect(await drawState("a")).toEqual({ samples: 0, cap: null });
    await meter(190, [{ session: "a", rated: 22, current: 5 }]);
    expect((await setpoints()).a).toMatchObject({ kw: 15 });
    await meter(250, [{ session: "a", rated: 22, current: 5 }]);
    expect((await setpoints()).a).toMatchObject({ kw: 8, by: "VEHICLE_DRAW" });
  });

  test("the cap is lifted as soon as the draw comes within half the margin of it", async () => {
    await twoSessions();
    await meter(60, [{ session: "a", rated: 22, current: 5 }, bAt15]);
    await meter(120, [{ session: "a", rated: 22, current: 5 }, bAt15]);
    expect((await setpoints()).a).toMatchObject({ kw: 8, by: "VEHICLE_DRAW" });
    // Still at 5 kW: the cap stays (5 < 8 - 1.6 / 2); measured against the cap itself the margin
    // is 1.6, so the cap settles at 5 + 1.6 = 6.6 (more than a 0.5 kW deadband lower).
    await meter(180, [{ session: "a", rated: 22, current: 5 }, bAt15]);
    expect((await setpoints()).a).toMatchObject({ kw: 6.6, by: "VEHICLE_DRAW" });
    await meter(240, [{ session: "a", rated: 22, current: 5 }, bAt15]);
    expect((await setpoints()).a).toMatchObject({ kw: 6.6, by: "VEHICLE_DRAW" });
    // It takes what the cap gives (6.5 >= 6.6 - 0.66): lifted, back to the fair share.
    await meter(300, [{ session: "a", rated: 22, current: 6.5 }, bAt15]);
    expect(await drawState("a")).toEqual({ samples: 0, cap: null });
    expect(await setpoints()).toMatchObject({ a: { kw: 15, by: "SITE_LIMIT" }, b: { kw: 15, by: "SITE_LIMIT" } });
  });

  test("a falling draw (a tapering battery) lowers the cap once it is a deadband lower", async () => {
    await twoSessions();
    await meter(60, [{ session: "a", rated: 22, current: 6 }]);
    await meter(120, [{ session: "a", rated: 22, current: 6 }]);
    expect(await drawState("a")).toMatchObject({ cap: 9 });
    // 5.8 + max(1, 20 % of 9) = 7.6: more than the 0.5 kW deadband below 9? 9 - 7.6 = 1.4, yes.
    await meter(180, [{ session: "a", rated: 22, current: 5.8 }]);
    expect(await drawState("a")).toMatchObject({ cap: 7.6 });
    // 5.6 + 1.52 = 7.12: only 0.48 lower, the cap stays.
    await meter(240, [{ session: "a", rated: 22, current: 5.6 }]);
    expect(await drawState("a")).toMatchObject({ cap: 7.6 });
  });

  test("a late (older) sample and a sample taken before the last command count for nothing", async () => {
    await twoSessions();
    await meter(60, [{ session: "a", rated: 22, current: 5 }]);
    // An older sample arriving late is not applied, so it does not extend the run.
    await setClock(t.pool, at(70, base));
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 5, start: base, ts: at(30, base) }]);
    expect(await drawState("a")).toEqual({ samples: 1, cap: null });
    // A higher limit at 100 s commands 20 kW each; a sample stamped no later than that command
    // cannot show the car following it.
    await setClock(t.pool, at(100, base));
    await demand(t.pool, site, { limit: 40, current: 0, ev: 0, ts: at(100, base) });
    expect((await setpoints()).a).toMatchObject({ kw: 20, commanded: 20 });
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 5, start: base, ts: at(100, base) }]);
    expect(await drawState("a")).toEqual({ samples: 1, cap: null });
  });

  test("the site's margin and hold time (configureSite) apply", async () => {
    await t.pool.query(
      "INSERT INTO sites (site_id, draw_margin_kw, draw_margin_pct, draw_hold_s) VALUES ($1, 2, 0, 0)",
      [site],
    );
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0, ts: base });
    await meter(0, [
      { session: "a", rated: 22 },
      { session: "b", rated: 22 },
    ]);
    await meter(10, [{ session: "a", rated: 22, current: 12.9 }]);
    // Hold 0 s, but still two meter values.
    expect((await setpoints()).a).toMatchObject({ kw: 15 });
    await meter(20, [{ session: "a", rated: 22, current: 12.9 }]);
    expect(await setpoints()).toMatchObject({ a: { kw: 14.9, by: "VEHICLE_DRAW" }, b: { kw: 15.1 } });
    await expect(t.pool.query("UPDATE sites SET draw_margin_kw = 0 WHERE site_id = $1", [site])).rejects.toThrow(
      /draw_margin_kw/,
    );
  });

  test.each(["EQUAL_SHARE", "DEADLINE", "BID_WEIGHTED"])("in %s too", async (policy) => {
    await twoSessions(policy);
    await meter(60, [{ session: "a", rated: 22, current: 5 }]);
    await meter(120, [{ session: "a", rated: 22, current: 5 }]);
    const sp = await setpoints();
    expect(sp.a).toMatchObject({ kw: 8, by: "VEHICLE_DRAW" });
    // EQUAL_SHARE gives each min(hi, amount / n): the freed capacity is not passed on (its rule).
    expect(sp.b?.kw).toBe(policy === "EQUAL_SHARE" ? 15 : 22);
  });

  test("a session never commanded above 0 (not admitted) is never capped", async () => {
    await t.pool.query("INSERT INTO sites (site_id) VALUES ($1)", [site]);
    await demand(t.pool, site, { limit: 4, current: 0, ev: 0, ts: base });
    await meter(0, [
      { session: "a", rated: 22 },
      { session: "b", rated: 22 },
    ]);
    for (const offset of [60, 120, 180]) await meter(offset, [{ session: "b", rated: 22, current: 0 }]);
    expect(await setpoints()).toMatchObject({ a: { kw: 4 }, b: { kw: 0, by: "NOT_ADMITTED" } });
    expect(await drawState("b")).toEqual({ samples: 0, cap: null });
  });
});

describe("the vehicle's own limits (ev_max_kw, ev_min_kw)", () => {
  test("hi is at most ev_max; lo at least ev_min (at most hi)", async () => {
    await t.pool.query("INSERT INTO sites (site_id) VALUES ($1)", [site]);
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0, ts: base });
    await meter(0, [{ session: "a", rated: 22, evMax: 7 }]);
    expect((await setpoints()).a).toEqual({ kw: 7, by: "RATED_POWER", commanded: 7 });
    // Cap 16: b (ev_min 6) gets at least 6; a and c share the rest, 5 each (without ev_min all
    // three would get 5.33). The sum stays 16: unequal minimums go through the weighted fill.
    await demand(t.pool, site, { limit: 16, current: 0, ev: 0, ts: at(1, base) });
    await meter(2, [
      { session: "a", rated: 22, evMax: 7 },
      { session: "b", rated: 22, evMin: 6 },
      { session: "c", rated: 22 },
    ]);
    expect(await setpoints()).toMatchObject({
      a: { kw: 5, by: "SITE_LIMIT" },
      b: { kw: 6, by: "MIN_RATE" },
      c: { kw: 5, by: "SITE_LIMIT" },
    });
  });
});

describe("limitedBy when DR and the price tier are both in force", () => {
  test("DEMAND_RESPONSE when the DR cap is the lower bound, PRICE_TIER when the tier is", async () => {
    await t.pool.query("INSERT INTO sites (site_id) VALUES ($1)", [site]);
    // B = 20, C0 = 80; ON_PEAK 0.5: C0 x 0.5 = 40.
    await demand(t.pool, site, { limit: 100, current: 20, ev: 0, ts: base });
    await price(t.pool, site, { tier: "ON_PEAK", from: at(-60, base), to: at(3600, base) });
    await dr(t.pool, site, { pct: 75, start: at(-60, base), end: at(3600, base), signal: base });
    await meter(0, [{ session: "a", rated: 100 }]);
    // DR 75 %: C = 20 < 40: the DR cap binds.
    expect((await setpoints()).a).toMatchObject({ kw: 20, by: "DEMAND_RESPONSE" });
    // DR 25 %: C = 60 > 40: the price binds.
    await dr(t.pool, site, { pct: 25, start: at(-60, base), end: at(3600, base), signal: at(1, base) });
    expect((await setpoints()).a).toMatchObject({ kw: 40, by: "PRICE_TIER" });
  });
});
