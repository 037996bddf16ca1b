// The closed-loop fleet simulation (sim/): the real service drives a simulated day of two sites
// (office, depot) through its public interfaces, against this file's own database. What must hold
// for the control to work at all is asserted here; sim/run.ts prints the full comparison.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { siteChartSvg } from "../../sim/chart.js";
import type { Policy, SiteMetrics } from "../../sim/metrics.js";
import { SERVICE_POLICIES } from "../../sim/service-policies.js";
import { runSimulation, type SimulationResult } from "../../sim/simulate.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let database: TestDatabase;
let result: SimulationResult;

const metricsOf = (policy: Policy): SiteMetrics[] => result.sites.map((s) => s.metrics[policy]);
const total = (policy: Policy, f: (m: SiteMetrics) => number) => metricsOf(policy).reduce((sum, m) => sum + f(m), 0);

beforeAll(async () => {
  database = await createTestDatabase();
  result = await runSimulation({ quick: true, siteCount: 2, seed: 42, databaseUrl: database.url });
}, 480_000); // the quick day through the real service: about 40 s alone, minutes on a loaded machine

afterAll(async () => {
  await database?.drop();
});

describe("closed-loop fleet simulation (quick)", () => {
  it("is a day that needs control: uncontrolled charging overshoots every site's limit", () => {
    for (const m of metricsOf("UNCONTROLLED")) {
      expect(m.overshootKwh, m.siteId).toBeGreaterThan(1);
      expect(m.overshootSecondsAfterDelay, m.siteId).toBeGreaterThan(600);
    }
  });

  it("drove the service in closed loop: commands came back over graphql-ws and were applied", () => {
    expect(result.commandsReceived).toBeGreaterThan(100);
    for (const policy of SERVICE_POLICIES) {
      expect(
        total(policy, (m) => m.commands),
        policy,
      ).toBeGreaterThan(50);
      expect(
        total(policy, (m) => m.energyKwh),
        policy,
      ).toBeGreaterThan(0.5 * total("UNCONTROLLED", (m) => m.energyKwh));
    }
    // The cap binds for a while (so the next assertion is not vacuous).
    expect(total("WATER_FILL", (m) => m.secondsNearLimit)).toBeGreaterThan(1800);
  });

  it("every service policy overshoots the limit only within the command delay after a load change", () => {
    const [, maxDelayS] = result.commandDelayS;
    const uncontrolled = metricsOf("UNCONTROLLED");
    for (const policy of SERVICE_POLICIES) {
      for (const [i, m] of metricsOf(policy).entries()) {
        const label = `${policy} ${m.siteId}`;
        // Never later than the delay after a step: once the commands are applied, the site fits.
        expect(m.overshootSecondsAfterDelay, label).toBe(0);
        expect(m.overshootSeconds, label).toBeLessThanOrEqual((86_400 / result.stepS) * maxDelayS);
        // ...and far below uncontrolled charging.
        const free = uncontrolled[i] as SiteMetrics;
        expect(m.overshootKwh, label).toBeLessThan(0.02 * free.overshootKwh);
        expect(m.overshootSeconds, label).toBeLessThan(0.05 * free.overshootSeconds);
      }
    }
  });

  it("BID_WEIGHTED runs on the bidding fleet and keeps energy over the limit within the command delay", () => {
    // The depot's vans all bid (sim/model/fleet.ts), so its site is where the bids divide.
    const depot = result.scenario.sites.find((s) => s.kind === "depot");
    expect(depot?.fleet.every((ev) => ev.bidUsdKwh !== null)).toBe(true);
    expect(total("BID_WEIGHTED", (m) => m.commands)).toBeGreaterThan(50);
    expect(total("BID_WEIGHTED", (m) => m.energyKwh)).toBeGreaterThan(0.5 * total("UNCONTROLLED", (m) => m.energyKwh));
    for (const m of metricsOf("BID_WEIGHTED")) {
      expect(m.overshootSecondsAfterDelay, m.siteId).toBe(0);
      expect(m.overshootKwhAfterDelay, m.siteId).toBeLessThan(1e-6);
    }
  });

  it("WATER_FILL delivers at least as much energy as EQUAL_SHARE", () => {
    expect(total("WATER_FILL", (m) => m.energyKwh)).toBeGreaterThanOrEqual(total("EQUAL_SHARE", (m) => m.energyKwh));
  });

  it("the offline optimum on each site's day bounds every policy (beyond its energy over the limit)", () => {
    for (const site of result.sites) {
      expect(site.optimumKwh, site.siteId).toBeGreaterThan(0);
      for (const policy of ["TUTORIAL", ...SERVICE_POLICIES, "UNCONTROLLED"] as const) {
        const m = site.metrics[policy];
        // 1e-3 kWh: the solver's tolerance.
        expect(site.optimumKwh, `${site.siteId} ${policy}`).toBeGreaterThanOrEqual(m.energyKwh - m.overshootKwh - 1e-3);
      }
    }
  });

  it("the service honours the DR event better than the tutorial formula", () => {
    const summary = Object.fromEntries(result.summary.map((s) => [s.policy, s]));
    for (const policy of SERVICE_POLICIES) {
      expect(summary[policy]?.drCompliance, policy).toBeGreaterThan(summary.TUTORIAL?.drCompliance ?? 0);
      expect(summary[policy]?.drTimeCompliant, policy).toBeGreaterThan(summary.UNCONTROLLED?.drTimeCompliant ?? 0);
    }
  });

  it("charts each site as SVG", async () => {
    const [site] = result.scenario.sites;
    const [siteResult] = result.sites;
    if (!site || !siteResult) throw new Error("no site");
    const svg = await siteChartSvg(site, siteResult, result.stepS);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("demand limit");
    for (const policy of SERVICE_POLICIES) expect(svg).toContain(policy);
  });
});
