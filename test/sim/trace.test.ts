// Trace replay (sim/trace/): the CSV reader's errors, the offline optimum against hand-computed
// optima, and the reference schedulers against the optimum on the shipped example trace.
import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { parseTraceCsv, TraceFormatError } from "../../sim/trace/csv.js";
import { solveOptimum } from "../../sim/trace/optimum.js";
import { OPTIMUM, type PolicyRun, runTrace, type TraceResult } from "../../sim/trace/replay.js";
import { contractJson, demandMetChartSvg } from "../../sim/trace/report.js";
import { REFERENCE_POLICIES } from "../../sim/trace/schedulers.js";
import { buildWorld } from "../../sim/trace/world.js";

const HEADER = "session_id,station_id,arrival,departure,energy_kwh,max_kw";
const EXAMPLE = new URL("../../sim/traces/example.csv", import.meta.url);

function formatError(text: string): TraceFormatError {
  try {
    parseTraceCsv(text, "t.csv");
  } catch (error) {
    if (error instanceof TraceFormatError) return error;
    throw error;
  }
  throw new Error("parsed without error");
}

describe("trace CSV", () => {
  it("reads sessions with offsets, optional request columns, extra columns and quoting", () => {
    const sessions = parseTraceCsv(
      [
        `${HEADER},requested_departure,requested_energy_kwh,site`,
        `b,"CP,2",2026-03-02T09:00:00+01:00,2026-03-02T12:00:00+01:00,12.5,11,,,x`,
        `a,CP1,2026-03-02T07:30:00Z,2026-03-02T10:00:00Z,20,7.2,2026-03-02T11:00:00+01:00,18,y`,
      ].join("\r\n"),
    );
    expect(sessions.map((s) => s.sessionId)).toEqual(["a", "b"]);
    const [a, b] = sessions;
    expect(a?.arrivalMs).toBe(Date.parse("2026-03-02T07:30:00Z"));
    expect(a?.requestedDepartureMs).toBe(Date.parse("2026-03-02T10:00:00Z"));
    expect(a?.requestedEnergyKwh).toBe(18);
    expect(b?.stationId).toBe("CP,2");
    expect(b?.arrivalMs).toBe(Date.parse("2026-03-02T08:00:00Z"));
    expect(b?.requestedDepartureMs).toBeNull();
    expect(b?.requestedEnergyKwh).toBeNull();
  });

  it.each([
    [
      `${HEADER}\na,CP1,2026-03-02 07:30,2026-03-02T10:00:00Z,20,7.2`,
      2,
      "arrival",
      "not an ISO-8601 timestamp with an offset",
    ],
    [
      `${HEADER}\n\na,CP1,2026-03-02T07:30:00Z,2026-03-02T10:00:00Z,lots,7.2`,
      3,
      "energy_kwh",
      '"lots" is not a number',
    ],
    [`${HEADER}\na,CP1,2026-03-02T07:30:00Z,2026-03-02T10:00:00Z,20,0`, 2, "max_kw", "must be greater than 0"],
    [`${HEADER}\na,CP1,2026-03-02T07:30:00Z,2026-03-02T07:00:00Z,20,7`, 2, "departure", "is not after arrival"],
    [
      `${HEADER}\na,CP1,2026-03-02T07:30:00Z,2026-03-02T09:00:00Z,20,7\na,CP2,2026-03-02T07:30:00Z,2026-03-02T09:00:00Z,20,7`,
      3,
      "session_id",
      "repeats the session of line 2",
    ],
    [`${HEADER}\n,CP1,2026-03-02T07:30:00Z,2026-03-02T09:00:00Z,20,7`, 2, "session_id", "is empty"],
    [`${HEADER}\na,CP1,2026-02-30T07:30:00Z,2026-03-02T09:00:00Z,20,7`, 2, "arrival", "not a valid date-time"],
  ])("names the line and column of a bad value (%#)", (text, line, column, detail) => {
    const error = formatError(text);
    expect(error.line).toBe(line);
    expect(error.column).toBe(column);
    expect(error.message).toContain(`t.csv:${line} column "${column}"`);
    expect(error.message).toContain(detail);
  });

  it("names the line of a bad row and the missing header columns", () => {
    const short = formatError(`${HEADER}\na,CP1,2026-03-02T07:30:00Z`);
    expect(short.message).toBe("t.csv:2: 3 fields, the header has 6");
    const header = formatError("session_id,arrival,departure,energy_kwh\n");
    expect(header.line).toBe(1);
    expect(header.message).toContain("header lacks columns station_id, max_kw");
    expect(formatError("").message).toContain("empty file");
  });
});

describe("offline optimum (HiGHS)", () => {
  // a: 08-10 h, 30 kWh at up to 11 kW; b: 09-11 h, 30 kWh at up to 22 kW; 15-minute steps.
  const twoVehicles = parseTraceCsv(
    [
      HEADER,
      "a,S1,2026-03-02T08:00:00Z,2026-03-02T10:00:00Z,30,11",
      "b,S2,2026-03-02T09:00:00Z,2026-03-02T11:00:00Z,30,22",
    ].join("\n"),
  );
  const world = buildWorld(twoVehicles, { stepS: 900 });

  it.each([
    // 10 kW for the 3 h someone is plugged in.
    [10, 30, null],
    // 08-09 a alone at 11; 09-10 both share 15; 10-11 b alone at 15: 11 + 15 + 15.
    [15, 41, null],
    // a 2 h at 11 kW = 22; b its 30 kWh.
    [Number.POSITIVE_INFINITY, 52, [22, 30]],
  ])("delivers the hand-computed maximum at %s kW", async (capacityKw, energyKwh, perSession) => {
    const result = await solveOptimum(world, capacityKw);
    expect(result.energyKwh).toBeCloseTo(energyKwh, 3);
    if (perSession) expect(Array.from(result.deliveredKwh, (x) => Math.round(x * 1000) / 1000)).toEqual(perSession);
    for (const kw of result.loadKw) expect(kw).toBeLessThanOrEqual(capacityKw + 1e-6);
    expect(result.size).toEqual({ columns: 16, rows: world.steps + 2, nonzeros: 32 });
  });

  it("among the maximal schedules picks the cheapest (second objective)", async () => {
    // One vehicle 08-10 h needing 10 kWh at up to 11 kW: 0.30 USD/kWh before 09:00, 0.10 after.
    const one = parseTraceCsv(`${HEADER}\na,S1,2026-03-02T08:00:00Z,2026-03-02T10:00:00Z,10,11`);
    const schedule = [
      { tier: "ON_PEAK" as const, usdKwh: 0.3, fromS: 0, toS: 9 * 3600 },
      { tier: "OFF_PEAK" as const, usdKwh: 0.1, fromS: 9 * 3600, toS: 86_400 },
    ];
    const result = await solveOptimum(buildWorld(one, { stepS: 3600, schedule }), 100);
    expect(result.energyKwh).toBeCloseTo(10, 4);
    expect(result.costUsd).toBeCloseTo(1.0, 4);
    expect(result.loadKw[8]).toBeCloseTo(0, 4);
    expect(result.loadKw[9]).toBeCloseTo(10, 4);
  });
});

describe("reference schedulers on the example trace", () => {
  let result: TraceResult;
  const capacities = [15, 20, 30, Number.POSITIVE_INFINITY];
  const runsAt = (capacityKw: number) => result.runs.filter((r) => r.capacityKw === capacityKw);
  const run = (policy: string, capacityKw: number) =>
    result.runs.find((r) => r.policy === policy && r.capacityKw === capacityKw) as PolicyRun;

  beforeAll(async () => {
    const sessions = parseTraceCsv(await readFile(EXAMPLE, "utf8"));
    const world = buildWorld(sessions, { stepS: 300, battery: "ideal" });
    result = await runTrace({ world, capacitiesKw: capacities, policies: [OPTIMUM, ...REFERENCE_POLICIES] });
  }, 60_000);

  it("is a trace that needs control: at 15 kW uncontrolled charging breaks the limit and the optimum falls short", () => {
    expect(run("UNCONTROLLED", 15).overLimitKwhAfterDelay).toBeGreaterThan(10);
    expect(run(OPTIMUM, 15).energyKwh).toBeLessThan(0.99 * run(OPTIMUM, 15).requestedKwh);
  });

  it("with unlimited capacity every policy delivers ~100 % of the trace's energy", () => {
    const unlimited = runsAt(Number.POSITIVE_INFINITY);
    expect(unlimited.map((r) => r.policy).sort()).toEqual([OPTIMUM, ...REFERENCE_POLICIES].sort());
    for (const r of unlimited) expect(r.energyKwh / r.requestedKwh, r.policy).toBeGreaterThan(0.995);
  });

  it("the optimum is never below a policy (beyond the energy it took over the limit)", () => {
    for (const capacityKw of capacities) {
      const best = run(OPTIMUM, capacityKw).energyKwh;
      for (const r of runsAt(capacityKw)) {
        // 1e-3 kWh: the solver's tolerance.
        expect(best, `${r.policy} ${capacityKw}`).toBeGreaterThanOrEqual(r.energyKwh - r.overLimitKwh - 1e-3);
      }
    }
    // ...and the bound is tight enough to mean something: a good scheduler gets close at 20 kW.
    expect(run("LLF", 20).energyKwh).toBeGreaterThan(0.95 * run(OPTIMUM, 20).energyKwh);
  });

  it("controlled reference policies stay under the limit once their commands are applied", () => {
    const controlled = ["ROUND_ROBIN", "FCFS", "EDF", "LLF"];
    for (const r of result.runs.filter((x) => controlled.includes(x.policy))) {
      expect(r.overLimitKwhAfterDelay, `${r.policy} ${r.capacityKw}`).toBe(0);
      expect(r.commands, `${r.policy} ${r.capacityKw}`).toBeGreaterThan(0);
    }
  });

  it("EDF and LLF use what they are told: told nothing, both are FCFS", async () => {
    const sessions = parseTraceCsv(await readFile(EXAMPLE, "utf8"));
    const blind = await runTrace({
      world: buildWorld(sessions, { stepS: 300, inform: "none" }),
      capacitiesKw: [15],
      policies: ["FCFS", "EDF", "LLF"],
    });
    const [fcfs, edf, llf] = blind.runs;
    // The same setpoints; only the random command delays differ (each policy has its own stream).
    expect(Math.abs((edf?.energyKwh ?? 0) - (fcfs?.energyKwh ?? 0))).toBeLessThan(0.05);
    expect(Math.abs((llf?.energyKwh ?? 0) - (fcfs?.energyKwh ?? 0))).toBeLessThan(0.05);
    // Told departures and energy, they rank differently and deliver more here.
    expect(run("EDF", 15).energyKwh).toBeGreaterThan(run("FCFS", 15).energyKwh + 1);
    expect(run("LLF", 15).energyKwh).toBeGreaterThan(run("FCFS", 15).energyKwh + 1);
  });

  it("reports each policy and capacity in the contract's shape, the optimum as OPTIMUM, and charts a sweep", async () => {
    const { runs } = contractJson(result);
    expect(runs).toHaveLength(capacities.length * (1 + REFERENCE_POLICIES.length));
    for (const r of runs) {
      expect(Object.keys(r).sort()).toEqual(
        [
          "capacityKw",
          "commandsPerChargerHour",
          "costUsd",
          "demandMetPct",
          "optimumPct",
          "overLimitKwhAfterDelay",
          "policy",
          "sessionsFullyServedPct",
        ].sort(),
      );
    }
    const optimum20 = runs.find((r) => r.policy === OPTIMUM && r.capacityKw === 20);
    expect(optimum20?.optimumPct).toBe(100);
    expect(runs.find((r) => r.policy === OPTIMUM && r.capacityKw === null)?.demandMetPct).toBeCloseTo(100, 1);
    const svg = await demandMetChartSvg(result);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("Demand met vs site capacity");
    expect(svg).toContain("LLF");
  });
});
