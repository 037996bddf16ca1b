// Trace replay through the real service (sim/trace/service-driver.ts): the first day of the
// example trace at 20 kW and without a limit, against this file's own database, beside the
// offline optimum. What must hold for the service's policies is asserted here.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTraceCsv } from "../../sim/trace/csv.js";
import { OPTIMUM, type PolicyRun, runTrace, type TraceResult } from "../../sim/trace/replay.js";
import { SERVICE_POLICIES, sessionSampleFields } from "../../sim/trace/service-driver.js";
import { buildWorld } from "../../sim/trace/world.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let database: TestDatabase;
let result: TraceResult;
/** What the drivers asked for: the energy they told the service (DEADLINE guarantees up to there). */
let askedKwh = 0;
const LIMITED = 20;
const UNLIMITED = Number.POSITIVE_INFINITY;

const run = (policy: string, capacityKw: number) =>
  result.runs.find((r) => r.policy === policy && r.capacityKw === capacityKw) as PolicyRun;

beforeAll(async () => {
  database = await createTestDatabase();
  const text = await readFile(new URL("../../sim/traces/example.csv", import.meta.url), "utf8");
  const world = buildWorld(parseTraceCsv(text), {
    stepS: 300,
    fromMs: Date.parse("2026-03-02T00:00:00Z"),
    toMs: Date.parse("2026-03-03T00:00:00Z"),
  });
  askedKwh = world.sessions.reduce((sum, s) => sum + Math.min(s.energyKwh, s.informedEnergyKwh ?? s.energyKwh), 0);
  result = await runTrace({
    world,
    capacitiesKw: [LIMITED, UNLIMITED],
    policies: [OPTIMUM, ...SERVICE_POLICIES],
    databaseUrl: database.url,
  });
}, 180_000);

afterAll(async () => {
  await database?.drop();
});

describe("trace replay through the service", () => {
  it("drove the service in closed loop: commands came back over graphql-ws and were applied", () => {
    expect(result.service?.commandsReceived).toBeGreaterThan(20);
    for (const policy of SERVICE_POLICIES) {
      expect(run(policy, LIMITED).commands, policy).toBeGreaterThan(10);
    }
  });

  it("tells the service the departure and energy exactly when its schema has the fields", async () => {
    const fields = await sessionSampleFields();
    expect(result.service?.informed).toEqual({
      departureTs: fields.has("departureTs"),
      requestedEnergyKwh: fields.has("requestedEnergyKwh"),
    });
  });

  it("without a limit the service's policies deliver ~100 % of the trace's energy (DEADLINE: of what was asked)", () => {
    for (const policy of SERVICE_POLICIES) {
      const r = run(policy, UNLIMITED);
      // A driver who asked for less than the recorded energy has no guarantee beyond the request
      // under DEADLINE (ENERGY_MET), so what was asked is the floor.
      const demand = policy === "DEADLINE" ? Math.min(askedKwh, r.requestedKwh) : r.requestedKwh;
      expect(r.energyKwh / demand, policy).toBeGreaterThan(0.99);
    }
  });

  it("at 20 kW the limit binds, the service stays under it after the command delay, and the optimum bounds it", () => {
    for (const policy of SERVICE_POLICIES) {
      const r = run(policy, LIMITED);
      expect(r.overLimitKwhAfterDelay, policy).toBe(0);
      // DEADLINE may deliver at 20 kW all it does unlimited: that is its aim (the optimum's 100 %).
      if (policy === "DEADLINE")
        expect(r.energyKwh, policy).toBeLessThanOrEqual(run(policy, UNLIMITED).energyKwh + 0.01);
      else expect(r.energyKwh, policy).toBeLessThan(run(policy, UNLIMITED).energyKwh - 1);
      expect(run(OPTIMUM, LIMITED).energyKwh, policy).toBeGreaterThanOrEqual(r.energyKwh - r.overLimitKwh - 1e-3);
    }
  });
});
