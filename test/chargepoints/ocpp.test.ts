// SPEC §11 "OCPP-ready" and §10 "Units and minimums" / "Per-phase limits": every generated
// SetChargingProfile request validates against the official OCA schemas (ocpp-rpc's validators)
// and the interop rules, and the limits keep the site total and every phase within bounds, over
// random sites, charge points and sessions (fast-check), checked on what the SQL wrote.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { at, demand, samples, setClock, T0 } from "../helpers/events.js";
import { interopProblems, type Version, validateSchema } from "./ocpp.helpers.js";

let t: TestDatabase;
let siteCounter = 0;
beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterAll(async () => {
  await t.drop();
});

const v16 = (limit: number, extra: Record<string, unknown> = {}, schedule: Record<string, unknown> = {}) => ({
  connectorId: 1,
  csChargingProfiles: {
    chargingProfileId: 10001,
    stackLevel: 1,
    chargingProfilePurpose: "TxDefaultProfile",
    chargingProfileKind: "Absolute",
    ...extra,
    chargingSchedule: {
      startSchedule: "2026-06-01T12:00:00.000Z",
      chargingRateUnit: "A",
      chargingSchedulePeriod: [{ startPeriod: 0, limit, numberPhases: 3 }],
      ...schedule,
    },
  },
});

describe("the validators catch the interop traps", () => {
  test("a limit that is not a multiple of 0.1 fails the schema", () => {
    expect(() => validateSchema("V16", v16(16.05))).toThrow(/multipleOf/);
    expect(() => validateSchema("V16", v16(16.1))).not.toThrow();
  });

  test("a TxProfile without its transactionId, or a 2.0.1 numeric transactionId", () => {
    expect(interopProblems("V16", v16(16, { chargingProfilePurpose: "TxProfile" }))).toContain(
      "a TxProfile needs the transactionId",
    );
    expect(() =>
      validateSchema("V201", {
        evseId: 1,
        chargingProfile: {
          id: 1,
          stackLevel: 1,
          chargingProfilePurpose: "TxProfile",
          chargingProfileKind: "Absolute",
          transactionId: 42,
          chargingSchedule: [{ id: 1, chargingRateUnit: "A", chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] }],
        },
      }),
    ).toThrow(/string/);
  });

  test("an Absolute profile without startSchedule, a first period not at 0", () => {
    expect(interopProblems("V16", v16(16, {}, { startSchedule: undefined }))).toContain(
      "an Absolute profile needs startSchedule",
    );
    expect(interopProblems("V16", v16(16, {}, { chargingSchedulePeriod: [{ startPeriod: 60, limit: 16 }] }))).toContain(
      "the first startPeriod must be 0",
    );
  });

  test("an unknown property fails the schema (additionalProperties: false)", () => {
    expect(() => validateSchema("V16", v16(16, { evseId: 1 }))).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Random sites: every command's request is valid, and the limits keep C and the phase limits.
// ---------------------------------------------------------------------------------------------

const chargerArbitrary = fc.option(
  fc.record({
    ocpp_version: fc.constantFrom("V16", "V201", null),
    charging_rate_unit: fc.constantFrom("A", "W", null),
    phases: fc.constantFrom(1, 3, null),
    voltage_v: fc.constantFrom(110, 120, 208, 230, 240, 277, null),
    min_current_a: fc.constantFrom(0, 6, 6.5, 8, 10, null),
    limit_granularity: fc.constantFrom(0.1, 0.5, 1, null),
    stack_level: fc.constantFrom(1, 2, 5, null),
    profile_purpose: fc.constantFrom("AUTO", "TX_DEFAULT_PROFILE", null),
    failsafe_seconds: fc.constantFrom(10, 300, 3600, null),
  }),
  { nil: null },
);

const sessionArbitrary = fc.record({
  rated: fc.oneof(
    fc.constantFrom(1.4, 3.7, 7.4, 11, 22, 50, 150),
    fc.double({ min: 0, max: 200, noNaN: true }).map((x) => Math.round(x * 1000) / 1000),
  ),
  phases: fc.constantFrom(1, 2, 3, undefined),
  phase: fc.constantFrom("L1", "L2", "L3", undefined),
  voltage: fc.constantFrom(220, 230, 231.5, undefined),
  transactionId: fc.oneof(
    fc.constant(undefined),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(String),
    fc.uuid(),
    fc.string({ minLength: 1, maxLength: 36, unit: "grapheme-ascii" }).filter((s) => s.trim() === s && s !== ""),
  ),
  connector: fc.integer({ min: 0, max: 1000 }),
  charger: chargerArbitrary,
});

const siteArbitrary = fc.record({
  policy: fc.constantFrom("WATER_FILL", "EQUAL_SHARE", "BID_WEIGHTED", "DEADLINE"),
  limit: fc.double({ min: 0, max: 400, noNaN: true }).map((x) => Math.round(x * 100) / 100),
  building: fc.double({ min: 0, max: 100, noNaN: true }).map((x) => Math.round(x * 100) / 100),
  phaseLimit: fc.option(fc.constantFrom(10, 16, 25, 32, 63, 125), { nil: null }),
  phaseCurrents: fc.option(fc.array(fc.constantFrom(0, 2, 5, 12, 30), { minLength: 3, maxLength: 3 }), {
    nil: undefined,
  }),
  ocppVersion: fc.constantFrom("V16", "V201"),
  sessions: fc.array(sessionArbitrary, { minLength: 1, maxLength: 12 }),
});

type SiteCase = typeof siteArbitrary extends fc.Arbitrary<infer T> ? T : never;

interface CommandRow {
  session_id: string;
  ocpp_version: Version;
  ocpp_request: Record<string, unknown>;
  setpoint_kw: number;
  limited_by: string;
}

/** What a session loads on each grid phase: as the model says (unknown phase: all of them). */
function onPhase(phases: number, phase: string | undefined, n: number): boolean {
  if (phases === 3 || phase === undefined) return true;
  const own = Number(phase.slice(1));
  return n === own || (phases === 2 && n === (own % 3) + 1);
}

async function run(c: SiteCase) {
  siteCounter += 1;
  const site = `ocpp-prop-${siteCounter}`;
  await t.pool.query("INSERT INTO sites (site_id, policy, phase_limit_a, ocpp_version) VALUES ($1, $2, $3, $4)", [
    site,
    c.policy,
    c.phaseLimit,
    c.ocppVersion,
  ]);
  const ids = c.sessions.map((_, i) => `${site}-${String(i).padStart(2, "0")}`);
  for (const [i, s] of c.sessions.entries()) {
    if (!s.charger) continue;
    const columns = Object.keys(s.charger);
    await t.pool.query(
      `INSERT INTO charge_points (charge_point_id, site_id, ${columns.join(", ")})
       VALUES ($1, $2, ${columns.map((_, k) => `$${k + 3}`).join(", ")})`,
      [`cp-${ids[i]}`, site, ...Object.values(s.charger)],
    );
  }
  await demand(t.pool, site, {
    limit: c.limit,
    current: c.building,
    ev: 0,
    ...(c.phaseCurrents ? { phaseCurrents: c.phaseCurrents } : {}),
  });
  await samples(
    t.pool,
    c.sessions.map((s, i) => ({
      session: ids[i] as string,
      site,
      rated: s.rated,
      start: at(i),
      phases: s.phases,
      phase: s.phase as "L1" | "L2" | "L3" | undefined,
      voltage: s.voltage,
      transactionId: s.transactionId,
      connector: s.connector,
    })),
  );
  const cap = Number((await t.pool.query("SELECT ev_cap_kw FROM sites WHERE site_id = $1", [site])).rows[0].ev_cap_kw);
  const { rows } = await t.pool.query<CommandRow>(
    `SELECT DISTINCT ON (session_id) session_id, ocpp_version, ocpp_request, setpoint_kw, limited_by
     FROM setpoint_commands WHERE site_id = $1 ORDER BY session_id, seq DESC`,
    [site],
  );
  return { site, ids, cap, rows };
}

test("every generated request validates; the limits keep C and every phase limit; rounding never lifts", async () => {
  await fc.assert(
    fc.asyncProperty(siteArbitrary, async (c) => {
      const { ids, cap, rows } = await run(c);
      expect(rows).toHaveLength(c.sessions.length);
      let drawnKw = 0;
      let setpointKw = 0;
      const phaseAmps = [0, 0, 0];
      for (const row of rows) {
        const i = ids.indexOf(row.session_id);
        const s = c.sessions[i];
        if (!s) throw new Error(`unknown session ${row.session_id}`);
        const version = (s.charger?.ocpp_version ?? c.ocppVersion) as Version;
        expect(row.ocpp_version).toBe(version);
        validateSchema(version, row.ocpp_request);
        expect(interopProblems(version, row.ocpp_request)).toEqual([]);
        const profile = (
          version === "V16" ? row.ocpp_request.csChargingProfiles : row.ocpp_request.chargingProfile
        ) as {
          chargingProfilePurpose: string;
          chargingSchedule: unknown;
          transactionId?: unknown;
          validTo: string;
        };
        const schedule = (
          Array.isArray(profile.chargingSchedule) ? profile.chargingSchedule[0] : profile.chargingSchedule
        ) as {
          chargingRateUnit: "A" | "W";
          startSchedule: string;
          chargingSchedulePeriod: { limit: number; numberPhases: number }[];
        };
        // validTo = the command time + the charge point's failsafe horizon (the site's: 300 s).
        const horizon = s.charger?.failsafe_seconds ?? 300;
        expect(Date.parse(profile.validTo) - Date.parse(schedule.startSchedule)).toBe(horizon * 1000);
        const [period] = schedule.chargingSchedulePeriod;
        if (!period) throw new Error("no period");
        // The purpose follows the transaction id (1.6: only an integer id is usable).
        const purposeAuto = (s.charger?.profile_purpose ?? "AUTO") === "AUTO";
        const usable = s.transactionId !== undefined && (version === "V201" || /^-?[0-9]{1,9}$/.test(s.transactionId));
        expect(profile.chargingProfilePurpose).toBe(purposeAuto && usable ? "TxProfile" : "TxDefaultProfile");
        // The unit: A or W for a configured charge point, W for one without settings.
        const unit = s.charger ? (s.charger.charging_rate_unit ?? "A") : "W";
        expect(schedule.chargingRateUnit).toBe(unit);
        const phases = s.phases ?? s.charger?.phases ?? 3;
        const volts = s.voltage ?? s.charger?.voltage_v ?? 230;
        expect(period.numberPhases).toBe(phases);
        const kw = unit === "A" ? (period.limit * volts * phases) / 1000 : period.limit / 1000;
        // The setpoint in kW is the limit rounded down: never above what the charger is told.
        expect(row.setpoint_kw).toBeLessThanOrEqual(kw + 1e-9);
        drawnKw += kw;
        setpointKw += row.setpoint_kw;
        const amps = (kw * 1000) / (volts * phases);
        for (const n of [1, 2, 3]) if (onPhase(phases, s.phase, n)) phaseAmps[n - 1] = (phaseAmps[n - 1] ?? 0) + amps;
      }
      expect(drawnKw).toBeLessThanOrEqual(cap + 1e-6);
      expect(setpointKw).toBeLessThanOrEqual(cap + 1e-6);
      if (c.phaseLimit !== null) {
        for (const n of [0, 1, 2]) {
          const available = Math.max(0, c.phaseLimit - (c.phaseCurrents?.[n] ?? 0));
          expect(phaseAmps[n]).toBeLessThanOrEqual(available + 1e-6);
        }
      }
    }),
    { numRuns: 40 },
  );
});

test("the failsafe requests validate too, and their limits add up to at most C", async () => {
  await fc.assert(
    fc.asyncProperty(siteArbitrary, async (c) => {
      const { site, cap } = await run(c);
      const { rows } = await t.pool.query("SELECT profiles FROM site_failsafe WHERE site_id = $1", [site]);
      const profiles = (rows[0]?.profiles ?? []) as {
        ocppVersion: Version;
        limitKw: number;
        ocppRequest: Record<string, unknown>;
      }[];
      // one per connector: every session here is on a charge point of its own
      expect(profiles).toHaveLength(c.sessions.length);
      let sum = 0;
      for (const p of profiles) {
        validateSchema(p.ocppVersion, p.ocppRequest);
        expect(interopProblems(p.ocppVersion, p.ocppRequest)).toEqual([]);
        sum += p.limitKw;
      }
      expect(sum).toBeLessThanOrEqual(cap + 1e-6);
    }),
    { numRuns: 15 },
  );
});
