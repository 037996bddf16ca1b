// The allocation rule of SPEC §3 and the alerts of §4, one case per rule, straight in SQL.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import {
  activeAlerts,
  at,
  commandsOf,
  demand,
  dr,
  price,
  samples,
  setClock,
  setpointsOf,
  T0,
} from "../helpers/events.js";

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
  site = `site-${n}`;
});
const s = (name: string) => `${site}-${name}`;
/** Sessions a (3.7 kW), b and c (22 kW) at the test's site: the policies compared on one fleet. */
const smallAndTwoLarge = () =>
  samples(t.pool, [
    { session: s("a"), site, rated: 3.7 },
    { session: s("b"), site, rated: 22 },
    { session: s("c"), site, rated: 22 },
  ]);

describe("rules 1-2: building load and the hard cap", () => {
  test("a lone session gets its rated power, not 3 kW (the tutorial's NULLIF(count, 1))", async () => {
    await demand(t.pool, site, { limit: 100, current: 40, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 11 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 11, limited_by: "RATED_POWER" });
  });

  test("the EV load is not counted against itself (no feedback loop)", async () => {
    // Demand 60 kW of which 40 kW is EV: building 20, cap 80 - 20 = 60 for two 50 kW sessions.
    await demand(t.pool, site, { limit: 80, current: 60, ev: 40 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 50, current: 20 },
      { session: s("b"), site, rated: 50, current: 20 },
    ]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 30, limited_by: "SITE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 30, limited_by: "SITE_LIMIT" });
    const { rows } = await t.pool.query("SELECT building_load_kw, ev_cap_kw, target_kw FROM sites WHERE site_id = $1", [
      site,
    ]);
    expect(rows[0]).toEqual({ building_load_kw: 20, ev_cap_kw: 60, target_kw: 60 });
  });
});

describe("rule 3: demand response", () => {
  test("curtailment scales the cap, and a baseline caps it further", async () => {
    await demand(t.pool, site, { limit: 100, current: 20, ev: 0 });
    await dr(t.pool, site, { pct: 50, start: at(-60), end: at(3600) });
    await samples(t.pool, [{ session: s("a"), site, rated: 100 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 40, limited_by: "DEMAND_RESPONSE" });
    // Baseline 60 kW at 50 %: 30 - B(20) = 10 kW.
    await dr(t.pool, site, { pct: 50, baseline: 60, start: at(-60), end: at(3600), signal: at(1) });
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 10 });
  });
});

describe("rule 4: price tiers", () => {
  test("the tier in force scales the soft target", async () => {
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0 });
    await price(t.pool, site, { tier: "ON_PEAK", from: at(-60), to: at(3600) });
    await samples(t.pool, [{ session: s("a"), site, rated: 100 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 50, limited_by: "PRICE_TIER" });
  });

  test("price and DR do not stack: T = min(C, C0 x factor), C0 the cap before DR", async () => {
    // B = 20, C0 = 80; DR 50 %: C = 40; ON_PEAK 0.5: C0 x 0.5 = 40, so T = 40 (not C x 0.5 = 20).
    await demand(t.pool, site, { limit: 100, current: 20, ev: 0 });
    await price(t.pool, site, { tier: "ON_PEAK", from: at(-60), to: at(3600) });
    await dr(t.pool, site, { pct: 50, start: at(-60), end: at(3600) });
    await samples(t.pool, [{ session: s("a"), site, rated: 100 }]);
    const target = async () =>
      (await t.pool.query("SELECT ev_cap_kw, target_kw FROM sites WHERE site_id = $1", [site])).rows[0];
    expect(await target()).toEqual({ ev_cap_kw: 40, target_kw: 40 });
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 40 });
    // DR 75 %: C = 20 < C0 x 0.5 = 40, so the DR cap binds: T = C = 20.
    await dr(t.pool, site, { pct: 75, start: at(-60), end: at(3600), signal: at(1) });
    expect(await target()).toEqual({ ev_cap_kw: 20, target_kw: 20 });
    // DR 25 %: C = 60 > 40, so the price binds: T = 40 (stacked it would be 30).
    await dr(t.pool, site, { pct: 25, start: at(-60), end: at(3600), signal: at(2) });
    expect(await target()).toEqual({ ev_cap_kw: 60, target_kw: 40 });
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 40, limited_by: "PRICE_TIER" });
  });
});

describe("rules 5-7: admission and division", () => {
  test("admission in arrival order when the minimums do not fit; CAPACITY_SHORTFALL", async () => {
    await demand(t.pool, site, { limit: 7, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, start: at(-300) },
      { session: s("b"), site, rated: 22, start: at(-200) },
      { session: s("c"), site, rated: 22, start: at(-100) },
    ]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3.5, limited_by: "SITE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 3.5 });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
    expect(await activeAlerts(t.pool, site)).toEqual(["CAPACITY_SHORTFALL"]);
  });

  test("admission by priority first (SPEC §10): a later high-priority session is admitted before earlier ones", async () => {
    await demand(t.pool, site, { limit: 7, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, start: at(-300) },
      { session: s("b"), site, rated: 22, start: at(-200), priority: 0 },
      { session: s("c"), site, rated: 22, start: at(-100), priority: 5 },
    ]);
    // Order c (priority 5), then a (unknown, as 0) and b (0) by arrival: c and a fit, b does not.
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 3.5, limited_by: "SITE_LIMIT" });
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3.5, limited_by: "SITE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
    expect(await activeAlerts(t.pool, site)).toEqual(["CAPACITY_SHORTFALL"]);
  });

  test("admission by priority: a negative priority goes after the unknown ones, in every policy", async () => {
    await demand(t.pool, site, { limit: 7, current: 0, ev: 0 });
    await t.pool.query("UPDATE sites SET policy = 'EQUAL_SHARE' WHERE site_id = $1", [site]);
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, start: at(-300), priority: -1 },
      { session: s("b"), site, rated: 22, start: at(-200) },
      { session: s("c"), site, rated: 22, start: at(-100) },
    ]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 3.5 });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 3.5 });
    // The priority changes: the allocation follows (a priority change alone reallocates).
    await samples(t.pool, [{ session: s("a"), site, rated: 22, start: at(-300), ts: at(1), priority: 1 }]);
    const after = await setpointsOf(t.pool, site);
    expect(after[s("a")]).toMatchObject({ setpoint_kw: 3.5 });
    expect(after[s("b")]).toMatchObject({ setpoint_kw: 3.5 });
    expect(after[s("c")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
  });

  test("WATER_FILL: a session capped by its rated power releases the rest", async () => {
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0 });
    await smallAndTwoLarge();
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3.7, limited_by: "RATED_POWER" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 13.15, limited_by: "SITE_LIMIT" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 13.15 });
  });

  test("EQUAL_SHARE: min(hi, max(lo, amount/n)), divided by the count", async () => {
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0 });
    await t.pool.query("UPDATE sites SET policy = 'EQUAL_SHARE' WHERE site_id = $1", [site]);
    await smallAndTwoLarge();
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3.7, limited_by: "RATED_POWER" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 10 });
  });

  test("BID_WEIGHTED: shares in proportion to the bids; no bid bids the reserve price (default the tariff price)", async () => {
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    await t.pool.query("UPDATE sites SET policy = 'BID_WEIGHTED' WHERE site_id = $1", [site]);
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, bid: 0.1 },
      { session: s("b"), site, rated: 22, bid: 0.3 },
      { session: s("c"), site, rated: 22 },
    ]);
    // No price interval: c bids the default 0.10. 0.1 L + 0.3 L + 0.1 L = 50 would give b 30 kW:
    // b is capped at 22 and a and c share 28 by their equal bids (L = 140).
    let sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 14, limited_by: "SITE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 22, limited_by: "RATED_POWER" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 14, limited_by: "SITE_LIMIT" });

    // A reserve price of 0.20 on the site: 0.1 L + 22 + 0.2 L = 50, L = 93.33…
    await t.pool.query("UPDATE sites SET reserve_bid_usd_kwh = 0.2 WHERE site_id = $1", [site]);
    sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 9.33, limited_by: "SITE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 22, limited_by: "RATED_POWER" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 18.66, limited_by: "SITE_LIMIT" });

    // Reserve back to "the tariff price" and a 0.30 price in force: c bids 0.30 like b, and
    // 0.7 L = 50 binds no one: 1:3:3 of 50, rounded down.
    await t.pool.query("UPDATE sites SET reserve_bid_usd_kwh = NULL WHERE site_id = $1", [site]);
    await price(t.pool, site, { tier: "OFF_PEAK", usd: 0.3, from: at(-60), to: at(3600) });
    sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 7.14, limited_by: "SITE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 21.42, limited_by: "SITE_LIMIT" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 21.42, limited_by: "SITE_LIMIT" });
  });

  test("BID_WEIGHTED: a bid of 0 is held at its minimum (MIN_RATE), the price tier still sets the amount", async () => {
    await demand(t.pool, site, { limit: 40, current: 0, ev: 0 });
    await t.pool.query("UPDATE sites SET policy = 'BID_WEIGHTED' WHERE site_id = $1", [site]);
    await price(t.pool, site, { tier: "MID_PEAK", usd: 0.2, from: at(-60), to: at(3600) });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, bid: 0 },
      { session: s("b"), site, rated: 22, bid: 0.5 },
    ]);
    // T = 40 * 0.8 = 32: a keeps its 3 kW minimum, b takes 22 (rated), 7 kW more go to a.
    let sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 10, limited_by: "PRICE_TIER" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 22, limited_by: "RATED_POWER" });
    // A third bidder: the zero bid is back at its minimum.
    await samples(t.pool, [{ session: s("c"), site, rated: 22, bid: 0.5 }]);
    sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 14.5, limited_by: "PRICE_TIER" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 14.5, limited_by: "PRICE_TIER" });
  });

  test("MIN_RATE when the price target is below the sum of minimums", async () => {
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0 });
    await price(t.pool, site, { tier: "CRITICAL_PEAK", from: at(-60), to: at(3600) });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22 },
      { session: s("b"), site, rated: 22 },
    ]);
    // T = 20 * 0.2 = 4 < 2 * 3: both held up at 3 kW.
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 3, limited_by: "MIN_RATE" });
  });

  test("rule 8: rounded down to 0.01 kW", async () => {
    await demand(t.pool, site, { limit: 10, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22 },
      { session: s("b"), site, rated: 22 },
      { session: s("c"), site, rated: 22 },
    ]);
    expect((await setpointsOf(t.pool, site))[s("a")]?.setpoint_kw).toBe(3.33);
  });
});

describe("commands and deadband", () => {
  test("first setpoint, decreases, rises >= deadband, not small rises", async () => {
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [{ session: s("a"), site, rated: 22, ts: at(0) }]);
    await demand(t.pool, site, { limit: 19.9, current: 0, ev: 0, ts: at(1) });
    await demand(t.pool, site, { limit: 20.2, current: 0, ev: 0, ts: at(2) });
    await demand(t.pool, site, { limit: 20.5, current: 0, ev: 0, ts: at(3) });
    expect(await commandsOf(t.pool, s("a"))).toEqual([20, 19.9, 20.5]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 20.5, commanded_kw: 20.5 });
  });

  test("a cut under the deadband waits while the commanded sum fits under C; then the largest go first", async () => {
    const commandedSum = async () =>
      (
        await t.pool.query(
          `SELECT sum(sp.commanded_kw)::float AS commanded, min(st.ev_cap_kw)::float AS cap
           FROM setpoints sp JOIN sites st USING (site_id) WHERE sp.site_id = $1`,
          [site],
        )
      ).rows[0];
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [
      { session: s("a"), site, rated: 20, ts: at(0) },
      { session: s("b"), site, rated: 20, ts: at(0) },
      { session: s("c"), site, rated: 20, ts: at(0) },
    ]);
    // The cars report slightly lower rated powers: cuts of 0.4, 0.3 and 0.1 kW, all under the
    // 0.5 kW deadband, and 60 kW commanded still fits under C = 100: no command.
    await samples(t.pool, [
      { session: s("a"), site, rated: 19.6, ts: at(1) },
      { session: s("b"), site, rated: 19.7, ts: at(1) },
      { session: s("c"), site, rated: 19.9, ts: at(1) },
    ]);
    let sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 19.6, commanded_kw: 20 });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 19.9, commanded_kw: 20 });
    for (const x of ["a", "b", "c"]) expect(await commandsOf(t.pool, s(x))).toEqual([20]);
    // C drops to 59.4: 60 kW commanded no longer fits (excess 0.6). The held-back cuts are issued
    // largest first until it fits: a (0.4), then b (0.3); c's 0.1 kW cut still waits.
    await demand(t.pool, site, { limit: 59.4, current: 0, ev: 0, ts: at(2) });
    expect(await commandsOf(t.pool, s("a"))).toEqual([20, 19.6]);
    expect(await commandsOf(t.pool, s("b"))).toEqual([20, 19.7]);
    expect(await commandsOf(t.pool, s("c"))).toEqual([20]);
    sp = await setpointsOf(t.pool, site);
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 19.9, commanded_kw: 20 });
    expect(await commandedSum()).toEqual({ commanded: 59.3, cap: 59.4 });
    // A cut of at least the deadband is always commanded, even when the sum fits.
    await samples(t.pool, [{ session: s("c"), site, rated: 19.4, ts: at(3) }]);
    expect(await commandsOf(t.pool, s("c"))).toEqual([20, 19.4]);
  });

  test("an older site sample never overwrites a newer one", async () => {
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(10) });
    await demand(t.pool, site, { limit: 5, current: 0, ev: 0, ts: at(5) });
    await samples(t.pool, [{ session: s("a"), site, rated: 22 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]?.setpoint_kw).toBe(20);
  });
});

describe("alerts", () => {
  test("SITE_OVER_DEMAND fires when demand exceeds the limit, and clears", async () => {
    await demand(t.pool, site, { limit: 50, current: 60, ev: 10, ts: at(0) });
    expect(await activeAlerts(t.pool, site)).toEqual(["SITE_OVER_DEMAND"]);
    await demand(t.pool, site, { limit: 50, current: 40, ev: 10, ts: at(1) });
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    const { rows } = await t.pool.query("SELECT status, cleared_at FROM alerts WHERE site_id = $1", [site]);
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe("CLEARED");
  });

  test("SITE_OVER_DEMAND hysteresis: raised above the limit, cleared only below limit - 2 %", async () => {
    const rows = async () =>
      (await t.pool.query("SELECT status, message FROM alerts WHERE site_id = $1 ORDER BY id", [site])).rows;
    await demand(t.pool, site, { limit: 100, current: 100, ev: 0, ts: at(0) });
    expect(await activeAlerts(t.pool, site)).toEqual([]); // at the limit: not over it
    await demand(t.pool, site, { limit: 100, current: 101, ev: 0, ts: at(1) });
    expect(await activeAlerts(t.pool, site)).toEqual(["SITE_OVER_DEMAND"]);
    await demand(t.pool, site, { limit: 100, current: 99.5, ev: 0, ts: at(2) });
    expect(await activeAlerts(t.pool, site)).toEqual(["SITE_OVER_DEMAND"]);
    expect((await rows())[0].message).toContain("not yet below 98");
    await demand(t.pool, site, { limit: 100, current: 98, ev: 0, ts: at(3) }); // not below 98
    expect(await activeAlerts(t.pool, site)).toEqual(["SITE_OVER_DEMAND"]);
    await demand(t.pool, site, { limit: 100, current: 97.9, ev: 0, ts: at(4) });
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    // Inside the band but not active: not raised again.
    await demand(t.pool, site, { limit: 100, current: 99.5, ev: 0, ts: at(5) });
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    expect((await rows()).map((r) => r.status)).toEqual(["CLEARED"]);
  });

  test("SITE_OVER_DEMAND hysteresis is a site setting (0-50 %); changing it re-evaluates at once", async () => {
    await t.pool.query("INSERT INTO sites (site_id, over_demand_hysteresis_pct) VALUES ($1, 10)", [site]);
    await demand(t.pool, site, { limit: 100, current: 101, ev: 0, ts: at(0) });
    await demand(t.pool, site, { limit: 100, current: 95, ev: 0, ts: at(1) });
    expect(await activeAlerts(t.pool, site)).toEqual(["SITE_OVER_DEMAND"]); // 95 >= 90
    await t.pool.query("UPDATE sites SET over_demand_hysteresis_pct = 0 WHERE site_id = $1", [site]);
    expect(await activeAlerts(t.pool, site)).toEqual([]); // 95 <= 100: cleared with no hysteresis
    await expect(
      t.pool.query("UPDATE sites SET over_demand_hysteresis_pct = 51 WHERE site_id = $1", [site]),
    ).rejects.toThrow(/over_demand_hysteresis_pct/);
  });

  test("SITE_DATA_MISSING: sessions but no demand sample, so no setpoints", async () => {
    await samples(t.pool, [{ session: s("a"), site, rated: 11 }]);
    expect(await setpointsOf(t.pool, site)).toEqual({});
    expect(await activeAlerts(t.pool, site)).toEqual(["SITE_DATA_MISSING"]);
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    expect((await setpointsOf(t.pool, site))[s("a")]?.setpoint_kw).toBe(11);
  });

  test("an alert is not raised twice while it holds", async () => {
    await demand(t.pool, site, { limit: 50, current: 60, ev: 0, ts: at(0) });
    await demand(t.pool, site, { limit: 50, current: 60, ev: 0, ts: at(1) });
    await demand(t.pool, site, { limit: 50, current: 70, ev: 0, ts: at(2) });
    const { rows } = await t.pool.query("SELECT status, message FROM alerts WHERE site_id = $1", [site]);
    expect(rows).toHaveLength(1);
    expect(rows[0].message).toContain("70");
  });
});

describe("time: deviation grace, session timeout, stale data", () => {
  test("SETPOINT_DEVIATION only after the grace period, and clears when the car follows", async () => {
    await setClock(t.pool, at(0));
    await demand(t.pool, site, { limit: 10, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 0, ts: at(0) }]);
    // Commanded 10 kW at t=0; drawing 20 kW at t=10 is within the 30 s grace.
    await setClock(t.pool, at(10));
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 20, ts: at(10) }]);
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    // The grace period is over, but the newest meter value predates its end: no judgement yet.
    await setClock(t.pool, at(40));
    await t.pool.query("SELECT recompute_due_sites()");
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 20, ts: at(40) }]);
    expect(await activeAlerts(t.pool, site)).toEqual([`SETPOINT_DEVIATION:${s("a")}`]);
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 9.5, ts: at(41) }]);
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    await setClock(t.pool, T0);
  });

  test("sessions end when no sample arrives for the timeout (the tutorial's sessions never ended)", async () => {
    await setClock(t.pool, at(0));
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, ts: at(0) },
      { session: s("b"), site, rated: 22, ts: at(0) },
    ]);
    const { rows: due } = await t.pool.query("SELECT next_boundary_at FROM sites WHERE site_id = $1", [site]);
    // The earliest boundary: the deviation grace of the first commands (30 s).
    expect(due[0].next_boundary_at.toISOString()).toBe(new Date(at(30)).toISOString());
    await setClock(t.pool, at(200));
    await samples(t.pool, [{ session: s("b"), site, rated: 22, ts: at(200) }]);
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(200) });
    await setClock(t.pool, at(300));
    await t.pool.query("SELECT recompute_due_sites()");
    const { rows } = await t.pool.query(
      "SELECT session_id, ended_at, end_reason FROM sessions WHERE site_id = $1 ORDER BY 1",
      [site],
    );
    expect(rows.map((r) => [r.session_id, r.end_reason])).toEqual([
      [s("a"), "TIMEOUT"],
      [s("b"), null],
    ]);
    expect(rows[0].ended_at.toISOString()).toBe(new Date(at(300)).toISOString());
    expect((await setpointsOf(t.pool, site))[s("b")]?.setpoint_kw).toBe(20);
    expect(Object.keys(await setpointsOf(t.pool, site))).toEqual([s("b")]);
    // A late sample newer than the timeout revives it; an explicit end is final.
    await samples(t.pool, [{ session: s("a"), site, rated: 22, ts: at(301) }]);
    expect(Object.keys(await setpointsOf(t.pool, site))).toEqual([s("a"), s("b")]);
    await t.pool.query("INSERT INTO session_ends_raw (session_id, ended_at, source) VALUES ($1, $2, 'graphql')", [
      s("a"),
      at(302),
    ]);
    await samples(t.pool, [{ session: s("a"), site, rated: 22, ts: at(303) }]);
    expect(Object.keys(await setpointsOf(t.pool, site))).toEqual([s("b")]);
    await setClock(t.pool, T0);
  });

  test("a session that ends, explicitly or by timeout, gets exactly one final command: 0 kW, SESSION_ENDED", async () => {
    const commands = async (session: string) =>
      (
        await t.pool.query(
          "SELECT setpoint_kw, previous_kw, limited_by FROM setpoint_commands WHERE session_id = $1 ORDER BY seq",
          [session],
        )
      ).rows;
    await setClock(t.pool, at(0));
    await demand(t.pool, site, { limit: 40, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, ts: at(0) },
      { session: s("b"), site, rated: 22, ts: at(0) },
    ]);
    // Explicit end (endSession writes session_ends_raw).
    await setClock(t.pool, at(5));
    await t.pool.query("INSERT INTO session_ends_raw (session_id, ended_at, source) VALUES ($1, $2, 'graphql')", [
      s("a"),
      at(5),
    ]);
    expect(await commands(s("a"))).toEqual([
      { setpoint_kw: 20, previous_kw: null, limited_by: "SITE_LIMIT" },
      { setpoint_kw: 0, previous_kw: 20, limited_by: "SESSION_ENDED" },
    ]);
    // Nothing more for it: not on a later sample (an explicit end is final), an end sent again,
    // or another recompute.
    await samples(t.pool, [{ session: s("a"), site, rated: 22, ts: at(6) }]);
    await t.pool.query("INSERT INTO session_ends_raw (session_id, ended_at, source) VALUES ($1, $2, 'graphql')", [
      s("a"),
      at(7),
    ]);
    await demand(t.pool, site, { limit: 41, current: 0, ev: 0, ts: at(8) });
    expect(await commands(s("a"))).toHaveLength(2);
    expect((await commands(s("b"))).map((c) => c.setpoint_kw)).toEqual([20, 22]);
    // Timeout: no sample of b for 300 s.
    await setClock(t.pool, at(300));
    await t.pool.query("SELECT recompute_due_sites()");
    expect(await commands(s("b"))).toEqual([
      { setpoint_kw: 20, previous_kw: null, limited_by: "SITE_LIMIT" },
      { setpoint_kw: 22, previous_kw: 20, limited_by: "RATED_POWER" },
      { setpoint_kw: 0, previous_kw: 22, limited_by: "SESSION_ENDED" },
    ]);
    await demand(t.pool, site, { limit: 42, current: 0, ev: 0, ts: at(301) });
    await t.pool.query("SELECT recompute_sites(ARRAY[$1])", [site]);
    const { rows } = await t.pool.query(
      "SELECT session_id, count(*)::int AS n FROM setpoint_commands WHERE site_id = $1 AND limited_by = 'SESSION_ENDED' GROUP BY 1 ORDER BY 1",
      [site],
    );
    expect(rows).toEqual([
      { session_id: s("a"), n: 1 },
      { session_id: s("b"), n: 1 },
    ]);
    expect(await setpointsOf(t.pool, site)).toEqual({});
    await setClock(t.pool, T0);
  });

  test("STALE_SITE_DATA after the stale timeout; the last values are kept", async () => {
    await setClock(t.pool, at(0));
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [{ session: s("a"), site, rated: 22, current: 20, ts: at(0) }]);
    await setClock(t.pool, at(119));
    await t.pool.query("SELECT recompute_due_sites()");
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    await setClock(t.pool, at(120));
    await t.pool.query("SELECT recompute_due_sites()");
    expect(await activeAlerts(t.pool, site)).toEqual(["STALE_SITE_DATA"]);
    expect((await setpointsOf(t.pool, site))[s("a")]?.setpoint_kw).toBe(20);
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(121) });
    expect(await activeAlerts(t.pool, site)).toEqual([]);
    await setClock(t.pool, T0);
  });
});

describe("meter values", () => {
  test("a plain meter value changes no setpoint and issues no command; a new rated power does", async () => {
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0, ts: at(0) });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, current: 1, ts: at(0) },
      { session: s("b"), site, rated: 22, current: 1, ts: at(0) },
    ]);
    const count = async () =>
      (await t.pool.query("SELECT count(*)::int AS n FROM setpoint_commands WHERE site_id = $1", [site])).rows[0].n;
    expect(await count()).toBe(2);
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, current: 14, ts: at(5) },
      { session: s("b"), site, rated: 22, current: 15, ts: at(5) },
    ]);
    expect(await count()).toBe(2);
    const { rows } = await t.pool.query("SELECT current_power_kw FROM sessions WHERE session_id = $1", [s("b")]);
    expect(rows[0].current_power_kw).toBe(15);
    // The car reports a lower rated power (e.g. the cable): water-filling hands the rest to the other.
    await samples(t.pool, [{ session: s("a"), site, rated: 7.4, current: 7, ts: at(6) }]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 7.4, limited_by: "RATED_POWER" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 22, limited_by: "RATED_POWER" });
    expect(await count()).toBe(4);
  });
});

describe("energy needs and priority (SPEC §9)", () => {
  /** One sample of session a (22 kW) at the test's site, with some of the §9 columns. */
  const needsSample = (ts: string, needs: Record<string, number | string> = {}, current = 1) => {
    const columns = Object.keys(needs);
    return t.pool.query(
      `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
         current_power_kw, session_start_ts, sampled_ts, source${columns.map((c) => `, ${c}`).join("")})
       VALUES ($1, 'cp-a', 1, $2, 22, $3, $4, $5, 'graphql'${columns.map((_, i) => `, $${i + 6}`).join("")})`,
      [s("a"), site, current, T0, ts, ...Object.values(needs)],
    );
  };
  /** Changes the demand limit behind the triggers' back: only a recompute can show it. */
  const limitWithoutRecompute = (kw: number) =>
    t.pool.query("UPDATE sites SET demand_limit_kw = $2 WHERE site_id = $1", [site, kw]);
  const setpointA = async () => (await setpointsOf(t.pool, site))[s("a")]?.setpoint_kw;

  test("a change of requested energy alone reallocates the site, as a new rated power does", async () => {
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0, ts: at(0) });
    await needsSample(at(0));
    expect(await setpointA()).toBe(22);

    await limitWithoutRecompute(10);
    await needsSample(at(5), {}, 14); // a plain meter value: no recompute, the old answer stands
    expect(await setpointA()).toBe(22);

    await needsSample(at(6), { requested_energy_kwh: 40 }, 14);
    expect(await setpointA()).toBe(10);

    await limitWithoutRecompute(8);
    await needsSample(at(7), { requested_energy_kwh: 40 }, 14); // the same need again: no change
    expect(await setpointA()).toBe(10);

    // The newest sample wins whole: without the field, the need is unknown again, which is a change.
    await needsSample(at(8), {}, 14);
    expect(await setpointA()).toBe(8);
    const { rows } = await t.pool.query("SELECT requested_energy_kwh FROM sessions WHERE session_id = $1", [s("a")]);
    expect(rows[0].requested_energy_kwh).toBeNull();
  });

  test.each([
    ["departure_ts", at(3600)],
    ["ev_max_kw", 11],
    ["ev_min_kw", 1.4],
    ["bid_usd_kwh", 0.5],
    ["priority", 10],
  ])("a change of %s alone reallocates the site", async (column, value) => {
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0, ts: at(0) });
    await needsSample(at(0));
    await limitWithoutRecompute(10);
    await needsSample(at(5), { [column]: value }, 14);
    expect(await setpointA()).toBe(10);
    const { rows } = await t.pool.query(`SELECT ${column} AS v FROM sessions WHERE session_id = $1`, [s("a")]);
    expect(rows[0].v).toEqual(column === "departure_ts" ? new Date(value) : value);
  });

  test("an older sample never overwrites newer needs", async () => {
    await demand(t.pool, site, { limit: 30, current: 0, ev: 0, ts: at(0) });
    await needsSample(at(10), { requested_energy_kwh: 30, priority: 5 });
    await needsSample(at(5), { requested_energy_kwh: 60, priority: -5 });
    const { rows } = await t.pool.query("SELECT requested_energy_kwh, priority FROM sessions WHERE session_id = $1", [
      s("a"),
    ]);
    expect(rows[0]).toEqual({ requested_energy_kwh: 30, priority: 5 });
  });

  test.each([
    ["departure_ts", T0, "session_samples_raw_departure_ts_after_session_start"],
    ["requested_energy_kwh", 1001, "session_samples_raw_requested_energy_kwh_range"],
    ["bid_usd_kwh", -1, "session_samples_raw_bid_usd_kwh_range"],
    ["priority", 1001, "session_samples_raw_priority_range"],
    ["ev_max_kw", -1, "session_samples_raw_ev_max_kw_range"],
  ])("the raw table refuses a bad %s by a named CHECK", async (column, value, constraint) => {
    await expect(needsSample(at(0), { [column]: value })).rejects.toThrow(constraint);
  });

  test("the raw table refuses a vehicle minimum above its maximum", async () => {
    await expect(needsSample(at(0), { ev_min_kw: 12, ev_max_kw: 11 })).rejects.toThrow(
      "session_samples_raw_ev_min_kw_not_above_ev_max_kw",
    );
  });
});

test("a session reported at another site moves there; both sites are reallocated", async () => {
  const other = `${site}-other`;
  await demand(t.pool, site, { limit: 20, current: 0, ev: 0, ts: at(0) });
  await demand(t.pool, other, { limit: 30, current: 0, ev: 0, ts: at(0) });
  await samples(t.pool, [
    { session: s("a"), site, rated: 22, ts: at(0) },
    { session: s("b"), site, rated: 22, ts: at(0) },
  ]);
  await samples(t.pool, [{ session: s("a"), site: other, rated: 22, ts: at(5) }]);
  expect(await setpointsOf(t.pool, site)).toMatchObject({ [s("b")]: { setpoint_kw: 20 } });
  expect(Object.keys(await setpointsOf(t.pool, site))).toEqual([s("b")]);
  expect(await setpointsOf(t.pool, other)).toMatchObject({ [s("a")]: { setpoint_kw: 22 } });
});
