// The generated fleets tell the service what a driver's app would (departure, requested energy,
// bid): every value must be one the service accepts, as one bad sample fails a whole batch.
import { describe, expect, it } from "vitest";
import { buildScenario } from "../../sim/model/scenario.js";

describe("generated fleet", () => {
  const scenario = buildScenario({
    seed: 42,
    siteCount: 6,
    dayStartMs: Date.parse("2026-12-01T00:00:00Z"),
    stepS: 30,
    fleetScale: 1,
  });
  const evs = scenario.sites.flatMap((site) => site.fleet.map((ev) => ({ kind: site.kind, ev })));

  it("departs after it arrives and asks for 0-1,000 kWh", () => {
    for (const { ev } of evs) {
      if (ev.departureS !== null) expect(ev.departureS, ev.sessionId).toBeGreaterThan(ev.arrivalS);
      expect(ev.requestedKwh, ev.sessionId).toBeGreaterThanOrEqual(0);
      expect(ev.requestedKwh, ev.sessionId).toBeLessThanOrEqual(1000);
    }
  });

  it("bids: every depot van 0.15-0.30 USD/kWh, some other drivers, others none", () => {
    for (const { kind, ev } of evs) {
      if (kind === "depot") {
        expect(ev.bidUsdKwh, ev.sessionId).not.toBeNull();
        expect(ev.bidUsdKwh ?? 0).toBeGreaterThanOrEqual(0.15);
        expect(ev.bidUsdKwh ?? 1).toBeLessThanOrEqual(0.3);
      }
    }
    const others = evs.filter(({ kind }) => kind !== "depot");
    expect(others.some(({ ev }) => ev.bidUsdKwh === null)).toBe(true);
    expect(others.some(({ ev }) => ev.bidUsdKwh !== null)).toBe(true);
  });

  it("is the same world for a seed (bids come from their own stream)", () => {
    const again = buildScenario({
      seed: 42,
      siteCount: 6,
      dayStartMs: Date.parse("2026-12-01T00:00:00Z"),
      stepS: 30,
      fleetScale: 1,
    });
    expect(again.sites.map((s) => s.fleet)).toEqual(scenario.sites.map((s) => s.fleet));
  });
});
