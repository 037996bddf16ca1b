// SPEC §9-§11 through GraphQL, as a CPMS would call it: the electrical fields of a session sample,
// configureChargePoint (site defaults, bad input named by field), per-phase currents and limits,
// the OCPP request on setpointChanged and SetpointCommand, and failsafeProfiles.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { validateSchema } from "../chargepoints/ocpp.helpers.js";
import { startTestApp, type TestApp } from "../helpers/app.js";
import { setClock, T0 } from "../helpers/events.js";
import { collect, wsClient } from "../helpers/ws.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await setClock(t.database.pool, T0);
});
afterAll(async () => {
  await t?.stop();
});

const CONFIGURE = `mutation ($input: ChargePointConfigInput!) {
  configureChargePoint(input: $input) {
    chargePointId siteId ocppVersion chargingRateUnit phases voltageV minCurrentA limitGranularity stackLevel
    profilePurpose failsafeSeconds minPowerKw
  }
}`;
const DEMAND = `mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id phaseCurrentsA } }`;
const SAMPLES = `mutation ($inputs: [SessionSampleInput!]!) { recordSessionSamples(inputs: $inputs) { accepted } }`;

function sample(session: string, site: string, extra: Record<string, unknown> = {}) {
  return {
    sessionId: session,
    chargePointId: `cp-${session}`,
    connectorId: 1,
    siteId: site,
    ratedPowerKw: 22,
    sessionStartTs: T0,
    sampledTs: T0,
    ...extra,
  };
}

describe("configureChargePoint", () => {
  test("unset settings take the site's defaults; minPowerKw is minimum current x voltage x phases", async () => {
    const r = await t.gql(CONFIGURE, { input: { chargePointId: "cp-x", siteId: "cfg-1" } });
    expect(r.errors).toBeUndefined();
    expect(r.data?.configureChargePoint).toEqual({
      chargePointId: "cp-x",
      siteId: "cfg-1",
      ocppVersion: "V16",
      chargingRateUnit: "A",
      phases: 3,
      voltageV: 230,
      minCurrentA: 6,
      limitGranularity: 0.1,
      stackLevel: 1,
      profilePurpose: "AUTO",
      failsafeSeconds: 300,
      minPowerKw: 4.14,
    });
    const site = await t.gql(
      `mutation { configureSite(input: { siteId: "cfg-1", voltageV: 240, ocppVersion: V201, phases: 1, phaseLimitA: 32 }) { voltageV ocppVersion phases phaseLimitA } }`,
    );
    expect(site.data?.configureSite).toEqual({ voltageV: 240, ocppVersion: "V201", phases: 1, phaseLimitA: 32 });
    const list = await t.gql(
      `{ chargePoints(siteId: "cfg-1") { chargePointId ocppVersion voltageV phases minPowerKw } }`,
    );
    expect(list.data?.chargePoints).toEqual([
      { chargePointId: "cp-x", ocppVersion: "V201", voltageV: 240, phases: 1, minPowerKw: 1.44 },
    ]);
  });

  test("bad input is refused naming each field, and changes nothing", async () => {
    const r = await t.gql(CONFIGURE, {
      input: {
        chargePointId: " cp ",
        siteId: "cfg-2",
        phases: 4,
        voltageV: 50,
        minCurrentA: 6.05,
        limitGranularity: 0.25,
        stackLevel: 0,
        failsafeSeconds: 1,
      },
    });
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    for (const field of [
      "chargePointId",
      "phases",
      "voltageV",
      "minCurrentA",
      "limitGranularity",
      "stackLevel",
      "failsafeSeconds",
    ])
      expect(r.errors?.[0]?.message).toContain(field);
    expect((await t.gql(`{ chargePoints(siteId: "cfg-2") { chargePointId } }`)).data?.chargePoints).toEqual([]);
    const site = await t.gql(
      `mutation { configureSite(input: { siteId: "cfg-2", phaseLimitA: -1, minCurrentA: 5.55 }) { id } }`,
    );
    expect(site.errors?.[0]?.message).toContain("phaseLimitA");
    expect(site.errors?.[0]?.message).toContain("minCurrentA");
  });
});

describe("session electrical fields", () => {
  test("are stored (newest sample wins) and shown; bad values are refused by field, nothing stored", async () => {
    const ok = await t.gql(SAMPLES, {
      inputs: [sample("el-a", "el-1", { phases: 1, phase: "L2", voltageV: 231, transactionId: 4711 })],
    });
    expect(ok.errors).toBeUndefined();
    const q = `{ session(id: "el-a") { phases phase voltageV transactionId } }`;
    expect((await t.gql(q)).data?.session).toEqual({ phases: 1, phase: "L2", voltageV: 231, transactionId: "4711" });
    // An older sample never overwrites; a newer one wins whole (absent is unknown).
    await t.gql(SAMPLES, { inputs: [sample("el-a", "el-1", { sampledTs: "2026-06-01T11:59:00Z", phases: 3 })] });
    expect((await t.gql(q)).data?.session).toMatchObject({ phases: 1 });
    await t.gql(SAMPLES, {
      inputs: [sample("el-a", "el-1", { sampledTs: "2026-06-01T12:00:01Z", transactionId: "tx-2.0.1" })],
    });
    expect((await t.gql(q)).data?.session).toEqual({
      phases: null,
      phase: null,
      voltageV: null,
      transactionId: "tx-2.0.1",
    });

    const before = (await t.database.pool.query("SELECT count(*)::int AS n FROM session_samples_raw")).rows[0].n;
    const bad = await t.gql(SAMPLES, {
      inputs: [
        sample("el-b", "el-1", { phases: 0 }),
        sample("el-c", "el-1", { voltageV: 5000, transactionId: "x".repeat(37) }),
      ],
    });
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(bad.errors?.[0]?.message).toContain("inputs[0].phases");
    expect(bad.errors?.[0]?.message).toContain("inputs[1].voltageV");
    expect(bad.errors?.[0]?.message).toContain("inputs[1].transactionId");
    const badPhase = await t.gql(SAMPLES, { inputs: [sample("el-d", "el-1", { phase: "L4" })] });
    expect(badPhase.errors?.[0]?.message).toContain("phase");
    expect((await t.database.pool.query("SELECT count(*)::int AS n FROM session_samples_raw")).rows[0].n).toBe(before);
  });

  test("site demand carries phaseCurrentsA; a wrong shape is refused naming the field", async () => {
    const input = {
      siteId: "el-2",
      demandLimitKw: 50,
      currentDemandKw: 0,
      evLoadKw: 0,
      measuredTs: T0,
      phaseCurrentsA: [10, 12.5, 0],
    };
    const ok = await t.gql(DEMAND, { input });
    expect(ok.data?.recordSiteDemand).toEqual({ id: "el-2", phaseCurrentsA: [10, 12.5, 0] });
    const bad = await t.gql(DEMAND, { input: { ...input, phaseCurrentsA: [1, 2] } });
    expect(bad.errors?.[0]?.message).toContain("phaseCurrentsA");
  });
});

describe("OCPP requests and the failsafe", () => {
  test("setpointChanged carries ocppVersion and a valid ocppRequest; commands and failsafeProfiles too", async () => {
    const site = "oc-1";
    await t.gql(CONFIGURE, { input: { chargePointId: "cp-oc-a", siteId: site, ocppVersion: "V201" } });
    const client = wsClient(t.wsUrl);
    const events = await collect<{
      setpointChanged: {
        sessionId: string;
        ocppVersion: string;
        ocppRequest: Record<string, unknown>;
        command: unknown;
      };
    }>(
      client,
      `subscription ($siteId: ID) { setpointChanged(siteId: $siteId) { sessionId ocppVersion ocppRequest command { ocppVersion ocppRequest } } }`,
      { siteId: site },
    );
    await t.gql(DEMAND, {
      input: { siteId: site, demandLimitKw: 30, currentDemandKw: 0, evLoadKw: 0, measuredTs: T0 },
    });
    await t.gql(SAMPLES, {
      inputs: [sample("oc-a", site, { transactionId: "a1b2" }), sample("oc-b", site, { transactionId: 7 })],
    });
    const [a, b] = (await events.waitFor(2)).map((e) => e.setpointChanged);
    expect(a?.ocppVersion).toBe("V201");
    validateSchema("V201", a?.ocppRequest);
    expect(a?.ocppRequest).toMatchObject({
      evseId: 1,
      chargingProfile: {
        transactionId: "a1b2",
        chargingProfilePurpose: "TxProfile",
        chargingSchedule: [{ chargingRateUnit: "A", chargingSchedulePeriod: [{ startPeriod: 0, limit: 21.7 }] }],
      },
    });
    expect(a?.command).toEqual({ ocppVersion: a?.ocppVersion, ocppRequest: a?.ocppRequest });
    expect(b?.ocppVersion).toBe("V16");
    validateSchema("V16", b?.ocppRequest);
    expect(b?.ocppRequest).toMatchObject({
      csChargingProfiles: { transactionId: 7, chargingProfilePurpose: "TxProfile" },
    });
    events.dispose();
    await client.dispose();

    const failsafe = await t.gql<{
      failsafeProfiles: { chargePointId: string; limit: number; stackLevel: number; ocppRequest: unknown }[];
    }>(
      `{ failsafeProfiles(siteId: "${site}") { chargePointId connectorId limit limitKw stackLevel ocppVersion ocppRequest } }`,
    );
    expect(failsafe.errors).toBeUndefined();
    const profiles = failsafe.data?.failsafeProfiles ?? [];
    expect(profiles.map((p) => p.chargePointId)).toEqual(["cp-oc-a", "cp-oc-b"]);
    // Above the minimums (cp-oc-a: 4.14 kW; cp-oc-b, without settings: none) each gets (30 - 4.14) / 2:
    // cp-oc-a 17.07 kW = 24.7 A at 690 V, cp-oc-b 12.93 kW in W.
    expect(profiles.map((p) => p.limit)).toEqual([24.7, 12930]);
    validateSchema("V201", profiles[0]?.ocppRequest);
    validateSchema("V16", profiles[1]?.ocppRequest);
  });

  test("failsafeProfiles of a site the key may not see is refused", async () => {
    const r = await t.gql(`{ failsafeProfiles(siteId: "oc-1") { limit } }`, undefined, {
      authorization: "Bearer nope",
    });
    expect(r.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});
