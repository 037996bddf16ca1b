// Every query and mutation of SPEC §6 through HTTP, as a user would call them.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.js";
import { at, setClock, T0 } from "../helpers/events.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await setClock(t.database.pool, T0);
});
afterAll(async () => {
  await t?.stop();
});

const SAMPLE = `mutation ($input: SessionSampleInput!) {
  recordSessionSample(input: $input) { id siteId active ratedPowerKw sampledTs setpoint { setpointKw limitedBy commandedKw } }
}`;
const SAMPLES = `mutation ($inputs: [SessionSampleInput!]!) { recordSessionSamples(inputs: $inputs) { accepted } }`;
const DEMAND = `mutation ($input: SiteDemandInput!) {
  recordSiteDemand(input: $input) { id demandLimitKw currentDemandKw evLoadKw buildingLoadKw evCapKw targetKw priceTier }
}`;

function sample(session: string, site: string, extra: Record<string, unknown> = {}) {
  return {
    sessionId: session,
    chargePointId: `cp-${session}`,
    connectorId: 1,
    siteId: site,
    idTag: "TAG",
    ratedPowerKw: 22,
    currentPowerKw: 0,
    socPct: 40,
    energyKwh: 1.5,
    sessionStartTs: T0,
    sampledTs: T0,
    ...extra,
  };
}

function demandInput(site: string, limit: number, current: number, ev: number, ts = T0) {
  return { siteId: site, demandLimitKw: limit, currentDemandKw: current, evLoadKw: ev, measuredTs: ts };
}

describe("ingest and the numbers of SPEC §3", () => {
  test("a site, two sessions, a fair share through GraphQL", async () => {
    const d = await t.gql(DEMAND, { input: demandInput("g1", 80, 60, 40) });
    expect(d.errors).toBeUndefined();
    expect(d.data?.recordSiteDemand).toMatchObject({
      id: "g1",
      buildingLoadKw: 20,
      evCapKw: 60,
      targetKw: 60,
      priceTier: "OFF_PEAK",
    });
    const r = await t.gql(SAMPLES, {
      inputs: [sample("g1-a", "g1", { ratedPowerKw: 50 }), sample("g1-b", "g1", { ratedPowerKw: 50 })],
    });
    expect(r).toEqual({ data: { recordSessionSamples: { accepted: 2 } } });
    const q = await t.gql(
      `{ site(id: "g1") { id activeSessions setpoints { sessionId setpointKw limitedBy priceTier curtailmentPct currentPowerKw socPct ratedPowerKw } } }`,
    );
    expect(q.data?.site).toMatchObject({
      id: "g1",
      activeSessions: 2,
      setpoints: [
        {
          sessionId: "g1-a",
          setpointKw: 30,
          limitedBy: "SITE_LIMIT",
          priceTier: "OFF_PEAK",
          curtailmentPct: 0,
          ratedPowerKw: 50,
        },
        { sessionId: "g1-b", setpointKw: 30, limitedBy: "SITE_LIMIT" },
      ],
    });
  });

  test("recordSessionSample returns the session with its setpoint; a lone session gets its rated power", async () => {
    await t.gql(DEMAND, { input: demandInput("g2", 100, 10, 0) });
    const r = await t.gql(SAMPLE, { input: sample("g2-a", "g2", { ratedPowerKw: 11 }) });
    expect(r.data?.recordSessionSample).toMatchObject({
      id: "g2-a",
      active: true,
      setpoint: { setpointKw: 11, limitedBy: "RATED_POWER", commandedKw: 11 },
    });
  });

  test("price tier and DR through their mutations", async () => {
    await t.gql(DEMAND, { input: demandInput("g3", 100, 0, 0) });
    await t.gql(SAMPLE, { input: sample("g3-a", "g3", { ratedPowerKw: 100 }) });
    const p = await t.gql(
      `mutation ($input: PriceSignalInput!) { publishPriceSignal(input: $input) { tariffId siteId priceTier priceUsdKwh validFrom validTo } }`,
      {
        input: {
          tariffId: "tou",
          siteId: "g3",
          priceUsdKwh: 0.42,
          priceTier: "ON_PEAK",
          validFrom: at(-60),
          validTo: at(3600),
        },
      },
    );
    expect(p.data?.publishPriceSignal).toMatchObject({ priceTier: "ON_PEAK", priceUsdKwh: 0.42 });
    let s = await t.gql(
      `{ setpoints(siteId: "g3") { setpointKw limitedBy priceTier } site(id: "g3") { priceUsdKwh targetKw } }`,
    );
    expect(s.data).toMatchObject({
      setpoints: [{ setpointKw: 50, limitedBy: "PRICE_TIER", priceTier: "ON_PEAK" }],
      site: { priceUsdKwh: 0.42, targetKw: 50 },
    });
    const d = await t.gql(
      `mutation ($input: DemandResponseInput!) { dispatchDemandResponse(input: $input) { drEventId curtailmentPct baselineKw } }`,
      {
        input: {
          drEventId: "dr-9",
          siteId: "g3",
          curtailmentPct: 80,
          eventStartTs: at(-10),
          eventEndTs: at(600),
          signalTs: at(-20),
        },
      },
    );
    expect(d.data?.dispatchDemandResponse).toEqual({ drEventId: "dr-9", curtailmentPct: 80, baselineKw: 0 });
    s = await t.gql(
      `{ setpoints(siteId: "g3") { setpointKw limitedBy curtailmentPct } site(id: "g3") { evCapKw targetKw curtailmentPct } }`,
    );
    // C = 100 * 0.2 = 20; T = min(C, C0 * 0.5) = min(20, 50) = 20: price and DR do not stack
    // (SPEC §3 rule 4 as amended; stacked, T was 20 * 0.5 = 10).
    expect(s.data).toMatchObject({
      setpoints: [{ setpointKw: 20, curtailmentPct: 80 }],
      site: { evCapKw: 20, targetKw: 20, curtailmentPct: 80 },
    });
  });

  test("configureSite switches policy and settings; setpoints follow", async () => {
    await t.gql(DEMAND, { input: demandInput("g4", 30, 0, 0) });
    await t.gql(SAMPLES, {
      inputs: [sample("g4-a", "g4", { ratedPowerKw: 3.7 }), sample("g4-b", "g4"), sample("g4-c", "g4")],
    });
    let s = await t.gql(`{ setpoints(siteId: "g4") { sessionId setpointKw } }`);
    expect(s.data?.setpoints).toEqual([
      { sessionId: "g4-a", setpointKw: 3.7 },
      { sessionId: "g4-b", setpointKw: 13.15 },
      { sessionId: "g4-c", setpointKw: 13.15 },
    ]);
    const c = await t.gql(
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id policy minRateKw deadbandKw overDemandHysteresisPct priceTierFactors { onPeak } } }`,
      {
        input: {
          siteId: "g4",
          policy: "EQUAL_SHARE",
          deadbandKw: 1,
          overDemandHysteresisPct: 5,
          priceTierFactors: { ON_PEAK: 0.6 },
        },
      },
    );
    expect(c.data?.configureSite).toEqual({
      id: "g4",
      policy: "EQUAL_SHARE",
      minRateKw: 3,
      deadbandKw: 1,
      overDemandHysteresisPct: 5,
      priceTierFactors: { onPeak: 0.6 },
    });
    s = await t.gql(`{ setpoints(siteId: "g4") { sessionId setpointKw } }`);
    expect(s.data?.setpoints).toEqual([
      { sessionId: "g4-a", setpointKw: 3.7 },
      { sessionId: "g4-b", setpointKw: 10 },
      { sessionId: "g4-c", setpointKw: 10 },
    ]);
  });

  test("configureSite sets the reserve bid (null: back to the tariff price) and the vehicle-draw settings", async () => {
    const q = `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id reserveBidUsdKwh vehicleDrawMarginKw vehicleDrawMarginPct vehicleDrawHoldSeconds } }`;
    const c = await t.gql(q, {
      input: {
        siteId: "g4r",
        reserveBidUsdKwh: 0.25,
        vehicleDrawMarginKw: 1.5,
        vehicleDrawMarginPct: 10,
        vehicleDrawHoldSeconds: 120,
      },
    });
    expect(c.data?.configureSite).toEqual({
      id: "g4r",
      reserveBidUsdKwh: 0.25,
      vehicleDrawMarginKw: 1.5,
      vehicleDrawMarginPct: 10,
      vehicleDrawHoldSeconds: 120,
    });
    const reset = await t.gql(q, { input: { siteId: "g4r", reserveBidUsdKwh: null } });
    expect(reset.data?.configureSite).toMatchObject({ reserveBidUsdKwh: null, vehicleDrawMarginKw: 1.5 });
  });

  test("endSession ends a session and hands its share to the others", async () => {
    await t.gql(DEMAND, { input: demandInput("g5", 20, 0, 0) });
    await t.gql(SAMPLES, { inputs: [sample("g5-a", "g5"), sample("g5-b", "g5")] });
    const e = await t.gql(
      `mutation { endSession(sessionId: "g5-a", endedAt: "${at(30)}") { id active endedAt setpoint { setpointKw } } }`,
    );
    expect(e.data?.endSession).toEqual({ id: "g5-a", active: false, endedAt: at(30), setpoint: null });
    const s = await t.gql(
      `{ sessions(siteId: "g5") { id setpoint { setpointKw } } all: sessions(siteId: "g5", activeOnly: false) { id active } }`,
    );
    expect(s.data).toEqual({
      sessions: [{ id: "g5-b", setpoint: { setpointKw: 20 } }],
      all: [
        { id: "g5-a", active: false },
        { id: "g5-b", active: true },
      ],
    });
    const missing = await t.gql(`mutation { endSession(sessionId: "nope") { id } }`);
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  test("alerts query: active and history", async () => {
    await t.gql(DEMAND, { input: demandInput("g6", 50, 70, 0, at(0)) });
    let a = await t.gql(`{ alerts(siteId: "g6") { type status siteId sessionId message raisedAt clearedAt } }`);
    expect(a.data?.alerts).toMatchObject([
      { type: "SITE_OVER_DEMAND", status: "ACTIVE", siteId: "g6", sessionId: null, clearedAt: null },
    ]);
    await t.gql(DEMAND, { input: demandInput("g6", 50, 30, 0, at(5)) });
    a = await t.gql(
      `{ active: alerts(siteId: "g6") { type } history: alerts(siteId: "g6", activeOnly: false) { type status clearedAt } }`,
    );
    expect(a.data).toMatchObject({ active: [], history: [{ type: "SITE_OVER_DEMAND", status: "CLEARED" }] });
  });

  test("late and duplicate samples: the newest by sampled_ts wins, every raw event is kept", async () => {
    await t.gql(DEMAND, { input: demandInput("g7", 50, 0, 0) });
    await t.gql(SAMPLE, { input: sample("g7-a", "g7", { sampledTs: at(20), currentPowerKw: 7 }) });
    const late = await t.gql(SAMPLE, { input: sample("g7-a", "g7", { sampledTs: at(10), currentPowerKw: 1 }) });
    expect(late.data?.recordSessionSample).toMatchObject({ sampledTs: at(20) });
    await t.gql(SAMPLE, { input: sample("g7-a", "g7", { sampledTs: at(20), currentPowerKw: 7 }) });
    const s = await t.gql(`{ session(id: "g7-a") { currentPowerKw sampledTs } }`);
    expect(s.data?.session).toEqual({ currentPowerKw: 7, sampledTs: at(20) });
    const { rows } = await t.database.pool.query(
      "SELECT count(*)::int AS n FROM session_samples_raw WHERE session_id = 'g7-a'",
    );
    expect(rows[0].n).toBe(3);
  });

  test("energy needs and priority (SPEC §9): stored and returned; the newest sample wins whole, absent is unknown", async () => {
    const NEEDS = `mutation ($input: SessionSampleInput!) {
      recordSessionSample(input: $input) { id departureTs requestedEnergyKwh evMaxKw evMinKw bidUsdKwh priority }
    }`;
    await t.gql(DEMAND, { input: demandInput("g8", 50, 0, 0) });
    const needs = {
      departureTs: "2026-06-01T17:30:00+02:00",
      requestedEnergyKwh: 42.5,
      evMaxKw: 11,
      evMinKw: 1.4,
      bidUsdKwh: 0.35,
      priority: 7,
    };
    const first = await t.gql(NEEDS, { input: sample("g8-a", "g8", { sampledTs: at(10), ...needs }) });
    expect(first.errors).toBeUndefined();
    expect(first.data?.recordSessionSample).toEqual({ id: "g8-a", ...needs, departureTs: "2026-06-01T15:30:00.000Z" });
    const { rows } = await t.database.pool.query(
      `SELECT departure_ts, requested_energy_kwh, ev_max_kw, ev_min_kw, bid_usd_kwh, priority
       FROM session_samples_raw WHERE session_id = 'g8-a'`,
    );
    expect(rows).toEqual([
      {
        departure_ts: new Date("2026-06-01T15:30:00Z"),
        requested_energy_kwh: 42.5,
        ev_max_kw: 11,
        ev_min_kw: 1.4,
        bid_usd_kwh: 0.35,
        priority: 7,
      },
    ]);
    // An older sample changes nothing; a newer one without the fields makes them unknown (null, not 0).
    const late = await t.gql(NEEDS, { input: sample("g8-a", "g8", { sampledTs: at(5), priority: -3 }) });
    expect(late.data?.recordSessionSample).toMatchObject({ priority: 7, requestedEnergyKwh: 42.5 });
    const newer = await t.gql(NEEDS, { input: sample("g8-a", "g8", { sampledTs: at(20), bidUsdKwh: 0.5 }) });
    expect(newer.data?.recordSessionSample).toEqual({
      id: "g8-a",
      departureTs: null,
      requestedEnergyKwh: null,
      evMaxKw: null,
      evMinKw: null,
      bidUsdKwh: 0.5,
      priority: null,
    });
    const q = await t.gql(`{ session(id: "g8-a") { bidUsdKwh priority } }`);
    expect(q.data?.session).toEqual({ bidUsdKwh: 0.5, priority: null });
  });

  test("sites lists every site with nested setpoints in a constant number of queries", async () => {
    const r = await t.gql(`{ sites { id activeSessions setpoints { sessionId } } }`);
    expect(r.errors).toBeUndefined();
    const sites = (r.data?.sites ?? []) as { id: string }[];
    expect(sites.map((s) => s.id)).toEqual(expect.arrayContaining(["g1", "g2", "g3"]));
  });
});

describe("bad input is rejected, named, and leaves no trace", () => {
  async function rawCount(): Promise<number> {
    const { rows } = await t.database.pool.query(
      "SELECT (SELECT count(*) FROM session_samples_raw) + (SELECT count(*) FROM site_demand_raw) + (SELECT count(*) FROM price_signals_raw) + (SELECT count(*) FROM dr_signals_raw) AS n",
    );
    return Number(rows[0].n);
  }

  test("a batch with bad items names each by index and stores nothing", async () => {
    const before = await rawCount();
    const r = await t.gql(SAMPLES, {
      inputs: [
        sample("b1-a", "b1"),
        sample("b1-b", "b1", { ratedPowerKw: -5 }),
        sample("b1-c", "b1"),
        sample("b1-d", "b1", { socPct: 140, sampledTs: "yesterday" }),
      ],
    });
    expect(r.data).toBeNull();
    const error = r.errors?.[0];
    expect(error?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error?.message).toContain("inputs[1].ratedPowerKw");
    expect(error?.message).toContain("inputs[3].socPct");
    expect(error?.message).toContain("inputs[3].sampledTs");
    const issues = error?.extensions?.issues as { index: number; field: string }[];
    expect(issues.map((i) => i.index)).toEqual([1, 3, 3]);
    expect(await rawCount()).toBe(before);
  });

  test("recordSiteDemands: a batch, all or nothing, every bad item by index", async () => {
    const DEMANDS = `mutation ($inputs: [SiteDemandInput!]!) { recordSiteDemands(inputs: $inputs) { accepted } }`;
    const before = await rawCount();
    const bad = await t.gql(DEMANDS, {
      inputs: [
        demandInput("b3-a", 50, 10, 0),
        demandInput("b3-b", 50, -1, 0),
        demandInput("b3-a", 50, 10, 0, "2999-01-01T00:00:00Z"),
        { ...demandInput("b3-c", -5, 10, 0), evLoadKw: -2 },
      ],
    });
    expect(bad.data).toBeNull();
    const error = bad.errors?.[0];
    expect(error?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(error?.message).toContain("inputs[1].currentDemandKw");
    expect(error?.message).toContain("inputs[2].measuredTs");
    expect(error?.message).toContain("inputs[3].evLoadKw");
    const issues = error?.extensions?.issues as { index: number; field: string }[];
    expect([...new Set(issues.map((i) => i.index))]).toEqual([1, 2, 3]);
    expect(await rawCount()).toBe(before);
    expect((await t.gql(`{ a: site(id: "b3-a") { id } }`)).data).toEqual({ a: null });

    // All good: one statement; the newest sample of a site wins, whatever its place in the batch.
    const ok = await t.gql(DEMANDS, {
      inputs: [
        demandInput("b3-a", 50, 30, 0, at(5)),
        demandInput("b3-b", 80, 20, 5, at(0)),
        demandInput("b3-a", 50, 10, 0, at(1)),
      ],
    });
    expect(ok).toEqual({ data: { recordSiteDemands: { accepted: 3 } } });
    expect(await rawCount()).toBe(before + 3);
    const sites = await t.gql(
      `{ a: site(id: "b3-a") { currentDemandKw evCapKw } b: site(id: "b3-b") { demandLimitKw buildingLoadKw evCapKw } }`,
    );
    expect(sites.data).toEqual({
      a: { currentDemandKw: 30, evCapKw: 20 },
      b: { demandLimitKw: 80, buildingLoadKw: 15, evCapKw: 65 },
    });

    const tooMany = await t.gql(DEMANDS, {
      inputs: Array.from({ length: 10_001 }, () => demandInput("b3-a", 50, 1, 0)),
    });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(tooMany.errors?.[0]?.message).toContain("at most 10000");
    expect(await rawCount()).toBe(before + 3);
  });

  test.each([
    ["negative demand", DEMAND, { input: demandInput("b2", 50, -1, 0) }, "currentDemandKw"],
    ["future timestamp", DEMAND, { input: demandInput("b2", 50, 1, 0, "2999-01-01T00:00:00Z") }, "measuredTs"],
    ["timestamp without offset", DEMAND, { input: demandInput("b2", 50, 1, 0, "2026-06-01T12:00:00") }, "measuredTs"],
    ["empty id", SAMPLE, { input: sample("", "b2") }, "sessionId"],
    [
      "departure before the session start",
      SAMPLE,
      { input: sample("b2-s", "b2", { departureTs: at(-60) }) },
      "departureTs",
    ],
    [
      "absurd requested energy",
      SAMPLE,
      { input: sample("b2-s", "b2", { requestedEnergyKwh: 5000 }) },
      "requestedEnergyKwh",
    ],
    ["vehicle minimum above maximum", SAMPLE, { input: sample("b2-s", "b2", { evMinKw: 7, evMaxKw: 3.7 }) }, "evMinKw"],
    ["negative bid", SAMPLE, { input: sample("b2-s", "b2", { bidUsdKwh: -1 }) }, "bidUsdKwh"],
    ["priority out of range", SAMPLE, { input: sample("b2-s", "b2", { priority: 5000 }) }, "priority"],
    [
      "valid_to before valid_from",
      `mutation ($input: PriceSignalInput!) { publishPriceSignal(input: $input) { tariffId } }`,
      {
        input: {
          tariffId: "t",
          siteId: "b2",
          priceUsdKwh: 0.1,
          priceTier: "ON_PEAK",
          validFrom: at(60),
          validTo: at(0),
        },
      },
      "validTo",
    ],
    [
      "curtailment over 100",
      `mutation ($input: DemandResponseInput!) { dispatchDemandResponse(input: $input) { drEventId } }`,
      {
        input: {
          drEventId: "d",
          siteId: "b2",
          curtailmentPct: 101,
          eventStartTs: at(0),
          eventEndTs: at(60),
          signalTs: at(0),
        },
      },
      "curtailmentPct",
    ],
    [
      "a factor above 1",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", priceTierFactors: { ON_PEAK: 1.5 } } },
      "priceTierFactors.ON_PEAK",
    ],
    [
      "an over-demand hysteresis above 50 %",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", overDemandHysteresisPct: 51 } },
      "overDemandHysteresisPct",
    ],
    [
      "an absurd reserve bid",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", reserveBidUsdKwh: 101 } },
      "reserveBidUsdKwh",
    ],
    [
      "a negative reserve bid",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", reserveBidUsdKwh: -0.1 } },
      "reserveBidUsdKwh",
    ],
    [
      "a vehicle-draw margin under 0.1 kW",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", vehicleDrawMarginKw: 0 } },
      "vehicleDrawMarginKw",
    ],
    [
      "a vehicle-draw margin above 100 %",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", vehicleDrawMarginPct: 120 } },
      "vehicleDrawMarginPct",
    ],
    [
      "a negative vehicle-draw hold",
      `mutation ($input: SiteConfigInput!) { configureSite(input: $input) { id } }`,
      { input: { siteId: "b2", vehicleDrawHoldSeconds: -1 } },
      "vehicleDrawHoldSeconds",
    ],
  ])("%s", async (_name, query, variables, field) => {
    const before = await rawCount();
    const r = await t.gql(query, variables);
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(r.errors?.[0]?.message).toContain(field);
    expect(await rawCount()).toBe(before);
    const site = await t.gql(`{ site(id: "b2") { id } }`);
    expect(site.data?.site).toBeNull();
  });

  test("an unknown price tier is rejected by the schema", async () => {
    const r = await t.gql(`mutation ($input: PriceSignalInput!) { publishPriceSignal(input: $input) { tariffId } }`, {
      input: {
        tariffId: "t",
        siteId: "b3",
        priceUsdKwh: 0.1,
        priceTier: "SUPER_PEAK",
        validFrom: at(0),
        validTo: at(60),
      },
    });
    expect(r.errors?.[0]?.message).toContain("SUPER_PEAK");
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const missing = await t.gql(`mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id } }`, {
      input: { siteId: "b3", demandLimitKw: 10, currentDemandKw: 1, measuredTs: T0 },
    });
    expect(missing.errors?.[0]?.message).toContain("evLoadKw");
    expect(missing.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("the clock", () => {
  test("reading is allowed; setting is refused unless ALLOW_CLOCK_CONTROL", async () => {
    const r = await t.gql(`{ clock { now virtual speed } }`);
    expect(r.data?.clock).toMatchObject({ now: new Date(T0).toISOString(), virtual: true, speed: 0 });
    const set = await t.gql(`mutation { setClock(at: "2026-06-01T13:00:00Z", speed: 0) { now } }`);
    expect(set.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const controlled = await startTestApp({ allowClockControl: true }, t.database);
    try {
      const moved = await controlled.gql(`mutation { setClock(at: "2026-06-01T13:00:00Z", speed: 0) { now virtual } }`);
      expect(moved.data?.setClock).toEqual({ now: "2026-06-01T13:00:00.000Z", virtual: true });
      await controlled.gql(`mutation { setClock(at: "${T0}", speed: 0) { now } }`);
    } finally {
      await controlled.stop();
    }
  });
});
