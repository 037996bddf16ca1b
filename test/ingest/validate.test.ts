// Timestamps: calendar-impossible dates and times are refused, not rolled over (security issue 11).
import { describe, expect, test } from "vitest";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import { parseTimestamp } from "../../src/ingest/validate.js";

describe("parseTimestamp", () => {
  test.each([
    "2026-02-30T00:00:00Z",
    "2026-02-29T00:00:00Z", // 2026 is not a leap year
    "2026-04-31T12:00:00+02:00",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-05-00T00:00:00Z",
    "2026-05-01T24:00:00Z",
    "2026-05-01T12:60:00Z",
    "2026-05-01T12:00:60Z",
    "2026-05-01T12:00:00+24:00",
    "2026-05-01T12:00:00",
    "2026-05-01",
  ])("refuses %s", (text) => {
    expect(parseTimestamp(text)).toBeNull();
  });

  test.each([
    ["2028-02-29T00:00:00Z", "2028-02-29T00:00:00.000Z"],
    ["2026-05-01T12:00:00+02:00", "2026-05-01T10:00:00.000Z"],
    ["2026-05-01T12:00Z", "2026-05-01T12:00:00.000Z"],
    ["2026-12-31T23:59:59.999-0530", "2027-01-01T05:29:59.999Z"],
  ])("reads %s", (text, iso) => {
    expect(parseTimestamp(text)?.toISOString()).toBe(iso);
  });
});

test("a session sample with an impossible date names the field and stores nothing", () => {
  const checked = INPUT_STREAMS.sessionSamples.check(
    {
      sessionId: "s1",
      chargePointId: "cp1",
      connectorId: 1,
      siteId: "site-a",
      ratedPowerKw: 11,
      sessionStartTs: "2026-02-30T00:00:00Z",
      sampledTs: "2026-03-02T00:00:00Z",
    },
    Date.parse("2026-03-02T00:00:00Z"),
  );
  expect(checked.ok).toBe(false);
  if (!checked.ok) expect(checked.issues.map((i) => i.field)).toEqual(["sessionStartTs"]);
});

describe("the energy and priority inputs of a session sample (SPEC §9)", () => {
  const NOW = Date.parse("2026-06-01T12:00:00Z");
  const base = {
    sessionId: "s1",
    chargePointId: "cp1",
    connectorId: 1,
    siteId: "site-a",
    ratedPowerKw: 22,
    sessionStartTs: "2026-06-01T08:00:00Z",
    sampledTs: "2026-06-01T11:59:00Z",
  };
  const check = (extra: Record<string, unknown>) => INPUT_STREAMS.sessionSamples.check({ ...base, ...extra }, NOW);

  test("absent: unknown (null), never zero", () => {
    const checked = check({});
    expect(checked.ok).toBe(true);
    if (checked.ok)
      expect(checked.value).toMatchObject({
        departureTs: null,
        requestedEnergyKwh: null,
        evMaxKw: null,
        evMinKw: null,
        bidUsdKwh: null,
        priority: null,
      });
  });

  test("valid values are kept as sent, including the edges", () => {
    const checked = check({
      departureTs: "2026-06-01T17:30:00+02:00",
      requestedEnergyKwh: 1000,
      evMaxKw: 11,
      evMinKw: 11,
      bidUsdKwh: 0,
      priority: -1000,
    });
    expect(checked.ok).toBe(true);
    if (checked.ok)
      expect(checked.value).toMatchObject({
        departureTs: new Date("2026-06-01T15:30:00Z"),
        requestedEnergyKwh: 1000,
        evMaxKw: 11,
        evMinKw: 11,
        bidUsdKwh: 0,
        priority: -1000,
      });
    expect(check({ requestedEnergyKwh: 0, bidUsdKwh: 100, priority: 1000, evMinKw: 0 }).ok).toBe(true);
    // Departure up to the schedule lead (400 days) ahead.
    expect(check({ departureTs: "2027-06-01T00:00:00Z" }).ok).toBe(true);
  });

  test.each([
    ["departure at session start", { departureTs: "2026-06-01T08:00:00Z" }, "departureTs", /after sessionStartTs/],
    ["departure before session start", { departureTs: "2026-06-01T07:00:00Z" }, "departureTs", /after sessionStartTs/],
    ["departure absurdly far ahead", { departureTs: "2027-07-15T00:00:00Z" }, "departureTs", /too far in the future/],
    ["departure unparseable", { departureTs: "tonight" }, "departureTs", /ISO-8601/],
    ["negative requested energy", { requestedEnergyKwh: -1 }, "requestedEnergyKwh", /between 0 and 1000 kWh/],
    ["absurd requested energy", { requestedEnergyKwh: 1000.5 }, "requestedEnergyKwh", /between 0 and 1000 kWh/],
    ["requested energy not a number", { requestedEnergyKwh: "40" }, "requestedEnergyKwh", /finite number/],
    ["negative vehicle maximum", { evMaxKw: -3 }, "evMaxKw", /between 0 and/],
    ["non-finite vehicle minimum", { evMinKw: Number.NaN }, "evMinKw", /finite number/],
    ["vehicle minimum above its maximum", { evMinKw: 12, evMaxKw: 11 }, "evMinKw", /must not be above evMaxKw/],
    ["negative bid", { bidUsdKwh: -0.01 }, "bidUsdKwh", /between 0 and 100 USD\/kWh/],
    ["absurd bid", { bidUsdKwh: 250 }, "bidUsdKwh", /between 0 and 100 USD\/kWh/],
    ["priority above 1000", { priority: 1001 }, "priority", /integer between -1000 and 1000/],
    ["priority below -1000", { priority: -1001 }, "priority", /integer between -1000 and 1000/],
    ["priority not an integer", { priority: 2.5 }, "priority", /integer between -1000 and 1000/],
    ["priority as a string", { priority: "7" }, "priority", /integer between -1000 and 1000/],
  ])("%s: refused, naming the field", (_name, extra, field, message) => {
    const checked = check(extra);
    expect(checked.ok).toBe(false);
    if (!checked.ok) {
      expect(checked.issues.map((i) => i.field)).toEqual([field]);
      expect(checked.issues[0]?.message).toMatch(message);
    }
  });

  test("a bad session start is reported once, not again as a departure before it", () => {
    const checked = check({ sessionStartTs: "soon", departureTs: "2026-06-01T18:00:00Z" });
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.issues.map((i) => i.field)).toEqual(["sessionStartTs"]);
  });
});

describe("the electrical model and OCPP id of a session sample, and per-phase currents (SPEC §9)", () => {
  const NOW = Date.parse("2026-06-01T12:00:00Z");
  const base = {
    sessionId: "s1",
    chargePointId: "cp1",
    connectorId: 1,
    siteId: "site-a",
    ratedPowerKw: 22,
    sessionStartTs: "2026-06-01T08:00:00Z",
    sampledTs: "2026-06-01T11:59:00Z",
  };
  const check = (extra: Record<string, unknown>) => INPUT_STREAMS.sessionSamples.check({ ...base, ...extra }, NOW);
  const issues = (extra: Record<string, unknown>) => {
    const checked = check(extra);
    return checked.ok ? [] : checked.issues.map((i) => `${i.field}: ${i.message}`);
  };

  test("absent: unknown; valid values kept; a 1.6 integer transaction id kept as text", () => {
    const none = check({});
    expect(none.ok && none.value).toMatchObject({ phases: null, phase: null, voltageV: null, transactionId: null });
    const ok = check({ phases: 1, phase: "L3", voltageV: 100, transactionId: -2147483648 });
    expect(ok.ok && ok.value).toMatchObject({ phases: 1, phase: "L3", voltageV: 100, transactionId: "-2147483648" });
    const uuid = check({ transactionId: "0b6f1f0e-3f8e-4a59-9a44-2d2b8f0c7a51" });
    expect(uuid.ok && uuid.value.transactionId).toBe("0b6f1f0e-3f8e-4a59-9a44-2d2b8f0c7a51");
  });

  test.each([
    [{ phases: 0 }, "phases: must be an integer between 1 and 3"],
    [{ phases: 2.5 }, "phases: must be an integer between 1 and 3"],
    [{ phase: "L4" }, "phase: must be one of L1, L2, L3"],
    [{ voltageV: 99 }, "voltageV: must be between 100 and 1000 V, got 99"],
    [{ transactionId: 2 ** 31 }, "transactionId: must be a 32-bit integer (OCPP 1.6) or a string (OCPP 2.0.1)"],
    [{ transactionId: 1.5 }, "transactionId: must be a 32-bit integer (OCPP 1.6) or a string (OCPP 2.0.1)"],
    [{ transactionId: "x".repeat(37) }, "transactionId: must be an integer (OCPP 1.6) or a string of 1-36"],
    [{ transactionId: "" }, "transactionId: must be an integer (OCPP 1.6) or a string of 1-36"],
  ])("%j is refused, naming the field", (extra, message) => {
    expect(issues(extra).join("; ")).toContain(message);
  });

  test("phaseCurrentsA: exactly three currents 0-100,000 A", () => {
    const demand = (phaseCurrentsA: unknown) =>
      INPUT_STREAMS.siteDemand.check(
        {
          siteId: "a",
          demandLimitKw: 1,
          currentDemandKw: 0,
          evLoadKw: 0,
          measuredTs: "2026-06-01T11:00:00Z",
          phaseCurrentsA,
        },
        NOW,
      );
    expect(demand([1, 2, 3])).toMatchObject({ ok: true, value: { phaseCurrentsA: [1, 2, 3] } });
    expect(demand(undefined)).toMatchObject({ ok: true, value: { phaseCurrentsA: null } });
    for (const bad of [[1, 2], [1, 2, -1], [1, 2, Number.NaN], [1, 2, "3"], "1,2,3"])
      expect(demand(bad)).toMatchObject({ ok: false, issues: [{ field: "phaseCurrentsA" }] });
  });
});
