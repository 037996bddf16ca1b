// SPEC §9-§11 in SQL: chargers in amps (minimum current, rounding down to the granularity),
// per-phase limits (progressive filling, PHASE_LIMIT), the OCPP request on every command and
// the failsafe profiles. One case per rule; the payloads are checked against the OCA schemas in
// test/chargepoints/ocpp-schema.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { demand, samples, setClock, setpointsOf, T0 } from "../helpers/events.js";

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
  site = `el-site-${n}`;
});
const s = (name: string) => `${site}-${name}`;

/** A charge point row as configureChargePoint writes it (NULL: the site's default). */
async function chargePoint(cp: string, settings: Record<string, unknown> = {}): Promise<void> {
  await t.pool.query("SELECT lock_sites(ARRAY[$1]::text[])", [site]);
  const columns = Object.keys(settings);
  await t.pool.query(
    `INSERT INTO charge_points (charge_point_id, site_id${columns.map((c) => `, ${c}`).join("")})
     VALUES ($1, $2${columns.map((_, i) => `, $${i + 3}`).join("")})`,
    [cp, site, ...Object.values(settings)],
  );
}

async function phaseLimit(amps: number | null): Promise<void> {
  await t.pool.query("SELECT lock_sites(ARRAY[$1]::text[])", [site]);
  await t.pool.query("UPDATE sites SET phase_limit_a = $2 WHERE site_id = $1", [site, amps]);
}

async function lastCommand(session: string) {
  const { rows } = await t.pool.query(
    "SELECT setpoint_kw, ocpp_version, ocpp_request FROM setpoint_commands WHERE session_id = $1 ORDER BY seq DESC LIMIT 1",
    [session],
  );
  return rows[0];
}

const period = (request: { csChargingProfiles: { chargingSchedule: { chargingSchedulePeriod: unknown[] } } }) =>
  request.csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0];

describe("units and minimums (chargers in amps)", () => {
  test("lo is the minimum current x voltage x phases: 4.14 kW at 6 A, 230 V, 3 phases; below it paused at 0", async () => {
    await chargePoint(`cp-${s("a")}`);
    await chargePoint(`cp-${s("b")}`);
    // C = 8 kW: the first 4.14 kW minimum fits, the second does not (4.14 x 2 = 8.28).
    await demand(t.pool, site, { limit: 8, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22, start: "2026-06-01T11:00:00Z" },
      { session: s("b"), site, rated: 22 },
    ]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
    // a: 8 kW = 11.594 A -> 11.5 A -> 7.935 kW -> 7.93 kW
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 7.93, limited_by: "SITE_LIMIT" });
    expect(period((await lastCommand(s("a"))).ocpp_request)).toEqual({ startPeriod: 0, limit: 11.5, numberPhases: 3 });
  });

  test("a single-phase session's minimum is 1.38 kW (6 A x 230 V)", async () => {
    await chargePoint(`cp-${s("a")}`);
    await demand(t.pool, site, { limit: 1.5, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 7.4, phases: 1, phase: "L2" }]);
    // 1.5 kW = 6.52 A -> 6.5 A -> 1.495 kW -> 1.49
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 1.49 });
    expect(period((await lastCommand(s("a"))).ocpp_request)).toEqual({ startPeriod: 0, limit: 6.5, numberPhases: 1 });
    await demand(t.pool, site, { limit: 1.3, current: 0, ev: 0, ts: "2026-06-01T12:00:01Z" });
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
  });

  test("rounding down in amps never lifts the sum over C", async () => {
    for (const x of ["a", "b", "c"]) await chargePoint(`cp-${s(x)}`, { voltage_v: 231 });
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0 });
    await samples(
      t.pool,
      ["a", "b", "c"].map((x) => ({ session: s(x), site, rated: 22 })),
    );
    const { rows } = await t.pool.query(
      `SELECT sum((ocpp_request #>> '{csChargingProfiles,chargingSchedule,chargingSchedulePeriod,0,limit}')::numeric
                  * 231 * 3 / 1000) AS drawn, sum(setpoint_kw) AS kw
       FROM setpoint_commands WHERE site_id = $1`,
      [site],
    );
    // 20/3 kW = 9.62 A -> 9.6 A each: 3 x 9.6 A x 231 V x 3 = 19.9584 kW
    expect(rows[0].drawn).toBeCloseTo(19.9584, 6);
    expect(rows[0].drawn).toBeLessThanOrEqual(20);
    expect(rows[0].kw).toBeLessThanOrEqual(20);
  });

  test("a charger in W is rounded to 0.01 kW, its limit in watts and its minimum the site's", async () => {
    await chargePoint(`cp-${s("a")}`, { charging_rate_unit: "W", ocpp_version: "V201" });
    await demand(t.pool, site, { limit: 12.345, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 50 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 12.34 });
    const command = await lastCommand(s("a"));
    expect(command.ocpp_version).toBe("V201");
    expect(command.ocpp_request.chargingProfile.chargingSchedule[0]).toMatchObject({
      chargingRateUnit: "W",
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 12340, numberPhases: 3 }],
      minChargingRate: 3000,
    });
  });

  test("a charge point without settings keeps the kW rule (site minimum, 0.01 kW) and is commanded in W", async () => {
    await demand(t.pool, site, { limit: 7, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22 },
      { session: s("b"), site, rated: 22 },
    ]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 3.5 });
    const command = await lastCommand(s("a"));
    expect(command.ocpp_version).toBe("V16");
    expect(command.ocpp_request.csChargingProfiles.chargingSchedule).toMatchObject({
      chargingRateUnit: "W",
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 3500, numberPhases: 3 }],
    });
  });
});

describe("per-phase limits", () => {
  test("1-phase sessions load only their phase; max-min fair across phases; PHASE_LIMIT", async () => {
    for (const x of ["a", "b", "c"]) await chargePoint(`cp-${s(x)}`, { phases: 1 });
    await phaseLimit(16);
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 7.4, phase: "L1" },
      { session: s("b"), site, rated: 7.4, phase: "L1" },
      { session: s("c"), site, rated: 7.4, phase: "L2" },
    ]);
    const sp = await setpointsOf(t.pool, site);
    // L1: 16 A shared by a and b: 8 A = 1.84 kW each; L2: c alone, 16 A = 3.68 kW.
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 1.84, limited_by: "PHASE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 1.84, limited_by: "PHASE_LIMIT" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 3.68, limited_by: "PHASE_LIMIT" });
  });

  test("a 3-phase session loads all phases; the fair level stops where L1 is full", async () => {
    await chargePoint(`cp-${s("a")}`);
    await chargePoint(`cp-${s("b")}`, { phases: 1 });
    await chargePoint(`cp-${s("c")}`, { phases: 1 });
    await phaseLimit(32);
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 22 },
      { session: s("b"), site, rated: 7.4, phase: "L1" },
      { session: s("c"), site, rated: 2.3, phase: "L2" },
    ]);
    const sp = await setpointsOf(t.pool, site);
    // Level L: a = max(4.14, L) on every phase (L x 1.449 A), b = L on L1 (L x 4.348 A), c = min(L, 2.3)
    // on L2. L1 fills at 32 A when L = 5.52: a 8 A + b 24 A. L2 (8 + 10 A) and L3 (8 A) have room.
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 5.52, limited_by: "PHASE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 5.52, limited_by: "PHASE_LIMIT" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 2.3, limited_by: "RATED_POWER" });
  });

  test("the building's current on a phase (measured minus the sessions' draw) leaves less for EVs", async () => {
    await chargePoint(`cp-${s("a")}`, { phases: 1 });
    await phaseLimit(32);
    // L1 measures 20 A of which the session draws 1.15 kW = 5 A: the building takes 15 A, 17 A left.
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0, phaseCurrents: [20, 3, 3] });
    await samples(t.pool, [{ session: s("a"), site, rated: 7.4, phase: "L1", current: 1.15 }]);
    expect((await setpointsOf(t.pool, site))[s("a")]).toMatchObject({ setpoint_kw: 3.91, limited_by: "PHASE_LIMIT" });
  });

  test("minimums that do not fit a phase are not admitted there", async () => {
    for (const x of ["a", "b", "c"]) await chargePoint(`cp-${s(x)}`, { phases: 1 });
    await phaseLimit(10);
    await demand(t.pool, site, { limit: 100, current: 0, ev: 0 });
    await samples(t.pool, [
      { session: s("a"), site, rated: 7.4, phase: "L1", start: "2026-06-01T11:00:00Z" },
      { session: s("b"), site, rated: 7.4, phase: "L1" },
      { session: s("c"), site, rated: 7.4, phase: "L3" },
    ]);
    const sp = await setpointsOf(t.pool, site);
    expect(sp[s("a")]).toMatchObject({ setpoint_kw: 2.3, limited_by: "PHASE_LIMIT" });
    expect(sp[s("b")]).toMatchObject({ setpoint_kw: 0, limited_by: "NOT_ADMITTED" });
    expect(sp[s("c")]).toMatchObject({ setpoint_kw: 2.3 });
  });
});

describe("OCPP request on every command", () => {
  test("1.6: TxProfile with the integer transaction id, stable profile id, validTo = command time + horizon", async () => {
    await chargePoint(`cp-${s("a")}`, { failsafe_seconds: 120, stack_level: 3 });
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 11, transactionId: "4711", connector: 2 }]);
    const command = await lastCommand(s("a"));
    expect(command.ocpp_request).toEqual({
      connectorId: 2,
      csChargingProfiles: {
        chargingProfileId: 10002,
        transactionId: 4711,
        stackLevel: 3,
        chargingProfilePurpose: "TxProfile",
        chargingProfileKind: "Absolute",
        validTo: "2026-06-01T12:02:00.000Z",
        chargingSchedule: {
          startSchedule: "2026-06-01T12:00:00.000Z",
          chargingRateUnit: "A",
          chargingSchedulePeriod: [{ startPeriod: 0, limit: 15.9, numberPhases: 3 }],
          minChargingRate: 6,
        },
      },
    });
  });

  test("1.6 with a non-integer transaction id, or none: TxDefaultProfile", async () => {
    await chargePoint(`cp-${s("a")}`);
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 11, transactionId: "abc-1" }]);
    const request = (await lastCommand(s("a"))).ocpp_request;
    expect(request.csChargingProfiles.chargingProfilePurpose).toBe("TxDefaultProfile");
    expect(request.csChargingProfiles.transactionId).toBeUndefined();
  });

  test("2.0.1: evseId, chargingProfile with id, transactionId as a string, chargingSchedule array", async () => {
    await chargePoint(`cp-${s("a")}`, { ocpp_version: "V201" });
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 11, transactionId: "f2b0c9e4-tx" }]);
    const request = (await lastCommand(s("a"))).ocpp_request;
    expect(request).toMatchObject({
      evseId: 1,
      chargingProfile: {
        id: 10001,
        transactionId: "f2b0c9e4-tx",
        chargingProfilePurpose: "TxProfile",
        chargingProfileKind: "Absolute",
        chargingSchedule: [{ id: 10001, chargingRateUnit: "A", startSchedule: "2026-06-01T12:00:00.000Z" }],
      },
    });
  });

  test("profile purpose TX_DEFAULT_PROFILE ignores a known transaction", async () => {
    await chargePoint(`cp-${s("a")}`, { profile_purpose: "TX_DEFAULT_PROFILE" });
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 11, transactionId: "12" }]);
    expect((await lastCommand(s("a"))).ocpp_request.csChargingProfiles.chargingProfilePurpose).toBe("TxDefaultProfile");
  });

  test("the final SESSION_ENDED command carries a 0 limit", async () => {
    await chargePoint(`cp-${s("a")}`);
    await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 11 }]);
    await samples(t.pool, [
      { session: s("a"), site, rated: 11, ts: "2026-06-01T12:00:05Z", ended: "2026-06-01T12:00:05Z" },
    ]);
    const command = await lastCommand(s("a"));
    expect(period(command.ocpp_request)).toEqual({ startPeriod: 0, limit: 0, numberPhases: 3 });
  });
});

describe("failsafe", () => {
  const failsafe = async () =>
    (await t.pool.query("SELECT profiles, version FROM site_failsafe WHERE site_id = $1", [site])).rows[0];

  test("per connector, equal shares of C above the minimums, at a lower stack level; changes with C and connectors", async () => {
    await chargePoint(`cp-${s("a")}`);
    await chargePoint(`cp-${s("b")}`);
    await demand(t.pool, site, { limit: 20, current: 0, ev: 0 });
    await samples(t.pool, [{ session: s("a"), site, rated: 22 }]);
    let f = await failsafe();
    expect(f.profiles).toHaveLength(1);
    // one connector: all of C = 20 kW = 28.98 A -> 28.9 A
    expect(f.profiles[0]).toMatchObject({ chargePointId: `cp-${s("a")}`, connectorId: 1, limit: 28.9, stackLevel: 0 });
    expect(f.profiles[0].ocppRequest.csChargingProfiles).toMatchObject({
      chargingProfileId: 20001,
      chargingProfilePurpose: "TxDefaultProfile",
      stackLevel: 0,
    });
    const v1 = Number(f.version);
    await samples(t.pool, [{ session: s("b"), site, rated: 22 }]);
    f = await failsafe();
    expect(f.profiles.map((p: { limit: number }) => p.limit)).toEqual([14.4, 14.4]);
    expect(Number(f.version)).toBe(v1 + 1);
    // The cap falls to 6 kW: only the first connector's minimum (4.14) fits; it gets all 6 kW.
    await demand(t.pool, site, { limit: 6, current: 0, ev: 0, ts: "2026-06-01T12:00:01Z" });
    f = await failsafe();
    expect(f.profiles.map((p: { limit: number }) => p.limit)).toEqual([8.6, 0]);
    expect(Number(f.version)).toBe(v1 + 2);
    // A sample that changes neither the cap nor the connectors changes nothing.
    await samples(t.pool, [{ session: s("b"), site, rated: 22, ts: "2026-06-01T12:00:02Z", current: 3 }]);
    expect(Number((await failsafe()).version)).toBe(v1 + 2);
  });
});
