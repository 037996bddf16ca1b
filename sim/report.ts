// The results as a table for the terminal.
import type { PolicySummary, SiteMetrics } from "./metrics.js";
import type { SimulationResult } from "./simulate.js";

interface Column<T> {
  readonly title: string;
  readonly value: (row: T) => string;
}

function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = [columns.map((c) => c.title), ...rows.map((r) => columns.map((c) => c.value(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]?.length ?? 0)));
  const render = (line: readonly string[]) =>
    line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  const [head, ...body] = cells;
  return [render(head ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(render)].join("\n");
}

const f = (digits: number) => (x: number) => x.toFixed(digits);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (x: number) => `${(x * 100).toFixed(0)} %`;

/** The service's commands of a policy over all sites: decreases by < 0.5 kW as a share of all. */
function smallCutShare(result: SimulationResult, policy: string): string {
  let all = 0;
  let small = 0;
  for (const site of result.sites) {
    const k = site.commandKinds[policy];
    if (!k) continue;
    all += k.first + k.increases + k.decreases;
    small += k.smallDecreases;
  }
  return all > 0 ? `${((100 * small) / all).toFixed(1)} %` : "–";
}

const summaryColumns = (result: SimulationResult): readonly Column<PolicySummary>[] => [
  { title: "policy", value: (r) => r.policy },
  { title: "over limit kWh", value: (r) => f(2)(r.overshootKwh) },
  { title: "worst over kW", value: (r) => f(1)(r.worstOvershootKw) },
  { title: "over s >delay", value: (r) => String(r.overshootSecondsAfterDelay) },
  { title: "energy kWh", value: (r) => f(0)(r.energyKwh) },
  { title: "stranded kWh", value: (r) => f(0)(r.strandedKwh) },
  { title: "EVs met", value: (r) => pct(r.metShare) },
  { title: "Jain", value: (r) => f(3)(r.jain) },
  { title: "cost USD", value: (r) => f(2)(r.evCostUsd) },
  { title: "USD/kWh", value: (r) => f(3)(r.usdPerKwh) },
  { title: "DR compl.", value: (r) => pct(r.drCompliance) },
  { title: "DR time ok", value: (r) => pct(r.drTimeCompliant) },
  { title: "cmd/chg/h", value: (r) => f(2)(r.commandsPerChargerHour) },
  { title: "cuts <0.5 kW", value: (r) => smallCutShare(result, r.policy) },
];

const SITE_COLUMNS: readonly Column<SiteMetrics>[] = [
  { title: "site / policy", value: (r) => `${r.siteId} ${r.policy}` },
  { title: "over kWh", value: (r) => f(2)(r.overshootKwh) },
  { title: "worst kW", value: (r) => f(1)(r.worstOvershootKw) },
  { title: "over s", value: (r) => String(r.overshootSeconds) },
  { title: ">delay s", value: (r) => String(r.overshootSecondsAfterDelay) },
  { title: "steps (B rose)", value: (r) => `${r.overshootSteps} (${r.overshootStepsAfterBuildingRise})` },
  { title: "near limit h", value: (r) => f(1)(r.secondsNearLimit / 3600) },
  { title: "peak kW", value: (r) => f(0)(r.peakSiteKw) },
  { title: "peak 15' kW", value: (r) => f(0)(r.peak15MinKw) },
  { title: "energy kWh", value: (r) => f(0)(r.energyKwh) },
  { title: "met", value: (r) => `${Math.round(r.metShare * r.sessionsEvaluated)}/${r.sessionsEvaluated}` },
  { title: "Jain", value: (r) => f(3)(r.jain) },
  { title: "cost USD", value: (r) => f(2)(r.evCostUsd) },
  { title: "DR kW req/got", value: (r) => `${f(0)(r.drRequestedReductionKw)}/${f(0)(r.drAchievedReductionKw)}` },
  { title: "cmd/chg/h", value: (r) => f(2)(r.commandsPerChargerHour) },
];

export function formatReport(result: SimulationResult): string {
  const requested = result.summary[0]?.requestedKwh ?? 0;
  const vehicles = result.sites.reduce((n, s) => n + s.vehicles, 0);
  const optimumKwh = result.sites.reduce((sum, site) => sum + site.optimumKwh, 0);
  const solveMs = result.sites.reduce((sum, site) => sum + site.optimumSolveMs, 0);
  const shares = result.summary
    .map((p) => `${p.policy} ${((100 * p.energyKwh) / Math.max(1e-9, optimumKwh)).toFixed(1)} %`)
    .join(", ");
  const lines = [
    `Simulated ${result.day} (UTC), ${result.sites.length} sites, ${vehicles} vehicles asking ${requested.toFixed(0)} kWh, ` +
      `seed ${result.seed}, steps of ${result.stepS} s, command delay ${result.commandDelayS.join("-")} s`,
    "",
    table(result.summary, summaryColumns(result)),
    "",
    `Offline optimum (LP, HiGHS, ${s(solveMs)}): ${optimumKwh.toFixed(0)} kWh deliverable under the limits ` +
      `(an upper bound: it ignores the DR event and the taper). Delivered as a share of it: ${shares}.`,
    "",
    table(
      result.sites.flatMap((s) => Object.values(s.metrics)),
      SITE_COLUMNS,
    ),
    "",
    `over s >delay: seconds the EVs kept the site over its limit later than ${result.commandDelayS[1]} s after a step ` +
      "(a load change); steps (B rose): steps with an overshoot (of them, right after a building-load rise);",
    "cuts <0.5 kW: the service's decreases by less than 0.5 kW, as a share of its commands; " +
      "stranded: energy allowed to tapering or full vehicles but not drawn while others were held back; " +
      "DR compliance: achieved / requested cut of mean site load vs the DR baseline.",
    `Service: ${result.commandsReceived} setpoint commands received over graphql-ws ` +
      `(${result.commandKinds.first} first, ${result.commandKinds.increases} up, ${result.commandKinds.decreases} down, ` +
      `${result.commandKinds.smallDecreases} of them by < 0.5 kW), ` +
      `${result.serviceMetrics.scc_boundary_sites_recomputed_total ?? "?"} site recomputes by its boundary scheduler. ` +
      `Loop ${s(result.timing.serviceLoopMs)} (setClock ${s(result.timing.clockMs)}, site reports ${s(result.timing.siteReportsMs)}, ` +
      `waiting for commands ${s(result.timing.settleMs)}); total ${s(result.timing.totalMs)}.`,
  ];
  return lines.join("\n");
}

/** Everything of a run as plain JSON: settings, the world, per-site metrics and load traces. */
export function toJson(result: SimulationResult): unknown {
  return {
    seed: result.seed,
    quick: result.quick,
    day: result.day,
    stepS: result.stepS,
    commandDelayS: result.commandDelayS,
    timing: result.timing,
    commandsReceived: result.commandsReceived,
    commandKinds: result.commandKinds,
    serviceMetrics: result.serviceMetrics,
    summary: result.summary,
    sites: result.sites.map((site, i) => {
      const spec = result.scenario.sites[i];
      return {
        siteId: site.siteId,
        kind: site.kind,
        demandLimitKw: site.demandLimitKw,
        buildingPeakKw: spec?.buildingPeakKw,
        tariff: spec?.tariff,
        demandResponse: spec?.dr,
        fleet: spec?.fleet,
        metrics: site.metrics,
        optimumKwh: site.optimumKwh,
        optimumSolveMs: site.optimumSolveMs,
        commandKinds: site.commandKinds,
        alertsRaised: site.alertsRaised,
        trace: { stepS: result.stepS, buildingKw: site.buildingKw, loadKw: site.loadKw },
      };
    }),
  };
}
