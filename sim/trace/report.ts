// A trace replay's results: a table per capacity for the terminal, everything as JSON, the
// contract's `--json` shape (SPEC §14), and a "demand met vs capacity" chart for a sweep.
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "../chart.js";
import { SERVICE_POLICY_SPECS } from "../service-policies.js";
import { capacityLabel, OPTIMUM, type PolicyRun, TRACE_POLICIES, type TraceResult } from "./replay.js";
import { totalEnergyKwh } from "./world.js";

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 100);
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export interface ContractRun {
  readonly policy: string;
  /** null: unlimited. */
  readonly capacityKw: number | null;
  readonly demandMetPct: number;
  readonly optimumPct: number;
  readonly overLimitKwhAfterDelay: number;
  readonly sessionsFullyServedPct: number;
  readonly costUsd: number;
  readonly commandsPerChargerHour: number;
}

function optimumKwh(result: TraceResult, capacityKw: number): number | null {
  return result.optimum.find((o) => o.capacityKw === capacityKw)?.energyKwh ?? null;
}

/** One run in the shape of SPEC §14. */
export function contractRun(result: TraceResult, run: PolicyRun): ContractRun {
  const best = optimumKwh(result, run.capacityKw);
  return {
    policy: run.policy,
    capacityKw: Number.isFinite(run.capacityKw) ? run.capacityKw : null,
    demandMetPct: round(pct(run.energyKwh, run.requestedKwh), 2),
    optimumPct: best === null ? Number.NaN : round(pct(run.energyKwh, best), 2),
    overLimitKwhAfterDelay: round(run.overLimitKwhAfterDelay, 4),
    sessionsFullyServedPct: round(pct(run.sessionsFullyServed, run.sessions), 2),
    costUsd: round(run.costUsd, 2),
    commandsPerChargerHour: round(run.chargerHours > 0 ? run.commands / run.chargerHours : 0, 3),
  };
}

export function contractJson(result: TraceResult): { runs: ContractRun[] } {
  return { runs: result.runs.map((r) => contractRun(result, r)) };
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const HEAD = [
  "capacity / policy",
  "demand met",
  "of optimum",
  "served",
  "peak kW",
  "peak 15' kW",
  "cost USD",
  "over kWh",
  "over >delay",
  "cmd/chg-h",
  "run s",
];

export function formatTraceReport(result: TraceResult): string {
  const { world } = result;
  const days = (world.steps * world.stepS) / 86_400;
  const lines = [
    `Trace: ${world.sessions.length} sessions asking ${totalEnergyKwh(world).toFixed(1)} kWh over ${days.toFixed(1)} days ` +
      `from ${new Date(world.startMs).toISOString().slice(0, 10)}, steps of ${world.stepS} s, battery ${world.battery}, ` +
      `controllers told: ${world.inform}, command delay ${result.commandDelayS.join("-")} s`,
    "",
  ];
  const rows = result.runs.map((r) => {
    const c = contractRun(result, r);
    return [
      `${capacityLabel(r.capacityKw)} ${r.policy}`,
      `${c.demandMetPct.toFixed(1)} %`,
      Number.isNaN(c.optimumPct) ? "-" : `${c.optimumPct.toFixed(1)} %`,
      `${r.sessionsFullyServed}/${r.sessions}`,
      r.peakKw.toFixed(1),
      r.peak15MinKw.toFixed(1),
      r.costUsd.toFixed(2),
      r.overLimitKwh.toFixed(3),
      r.overLimitKwhAfterDelay.toFixed(3),
      c.commandsPerChargerHour.toFixed(2),
      (r.runMs / 1000).toFixed(2),
    ];
  });
  lines.push(table(HEAD, rows), "");
  for (const o of result.optimum) {
    lines.push(
      `Optimum at ${capacityLabel(o.capacityKw)}: LP of ${o.size.columns} columns, ${o.size.rows} rows, ${o.size.nonzeros} nonzeros; ` +
        `built in ${(o.buildMs / 1000).toFixed(2)} s, energy solve ${(o.energySolveMs / 1000).toFixed(2)} s, ` +
        `cost solve ${(o.costSolveMs / 1000).toFixed(2)} s (HiGHS, WebAssembly).`,
    );
  }
  const service = result.service;
  if (service) {
    const told = [
      service.informed.departureTs && "departureTs",
      service.informed.requestedEnergyKwh && "requestedEnergyKwh",
    ]
      .filter(Boolean)
      .join(", ");
    lines.push(
      `Service: told ${told || "nothing about departure or energy (its schema has no such SessionSampleInput fields yet)"}; ` +
        `${service.stepsSent} steps sent, ${service.commandsReceived} commands received over graphql-ws; ` +
        `start ${(service.startMs / 1000).toFixed(1)} s, loop ${(service.loopMs / 1000).toFixed(1)} s ` +
        `(setClock ${(service.clockMs / 1000).toFixed(1)} s, site reports ${(service.reportsMs / 1000).toFixed(1)} s, ` +
        `waiting for commands ${(service.settleMs / 1000).toFixed(1)} s).`,
    );
  }
  lines.push(
    "demand met: delivered / the sessions' energy; of optimum: delivered / the offline optimum's; served: sessions " +
      "that got their energy (within 0.1 kWh); over >delay: energy the EVs kept over the limit later than the " +
      "command delay after a step; run s: wall time (the service's policies share one loop).",
  );
  return lines.join("\n");
}

export function toTraceJson(result: TraceResult): unknown {
  const { world } = result;
  return {
    startMs: world.startMs,
    stepS: world.stepS,
    steps: world.steps,
    battery: world.battery,
    inform: world.inform,
    sessions: world.sessions.length,
    requestedKwh: totalEnergyKwh(world),
    commandDelayS: result.commandDelayS,
    capacitiesKw: result.capacitiesKw,
    runs: result.runs.map((r) => {
      const { deliveredKwh: _, ...metrics } = r;
      return { ...metrics, ...contractRun(result, r) };
    }),
    optimum: result.optimum.map((o) => ({
      capacityKw: Number.isFinite(o.capacityKw) ? o.capacityKw : null,
      energyKwh: o.energyKwh,
      costUsd: o.costUsd,
      size: o.size,
      buildMs: o.buildMs,
      energySolveMs: o.energySolveMs,
      costSolveMs: o.costSolveMs,
    })),
    service: result.service,
    totalMs: result.totalMs,
  };
}

const COLORS: Record<string, string> = {
  OPTIMUM: "#000000",
  UNCONTROLLED: "#d62728",
  TUTORIAL: "#9467bd",
  ROUND_ROBIN: "#8c564b",
  FCFS: "#e377c2",
  EDF: "#7f7f7f",
  LLF: "#bcbd22",
  ...Object.fromEntries(SERVICE_POLICY_SPECS.map((s) => [s.policy, s.color])),
};

export function demandMetChartSpec(result: TraceResult): TopLevelSpec {
  const values = result.runs
    .filter((r) => r.policy !== "UNCONTROLLED" && Number.isFinite(r.capacityKw))
    .map((r) => ({ policy: r.policy, capacityKw: r.capacityKw, demandMetPct: contractRun(result, r).demandMetPct }));
  const policies = TRACE_POLICIES.filter((p) => p !== "UNCONTROLLED" && values.some((v) => v.policy === p));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Demand met vs site capacity",
      subtitle: `${result.world.sessions.length} sessions, ${totalEnergyKwh(result.world).toFixed(0)} kWh, steps of ${result.world.stepS} s; black: the offline optimum`,
    },
    width: 640,
    height: 360,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "capacityKw", type: "quantitative", title: "site capacity, kW", scale: { zero: false } },
      y: {
        field: "demandMetPct",
        type: "quantitative",
        title: "energy delivered, % of demand",
        scale: { zero: false },
      },
      color: {
        field: "policy",
        type: "nominal",
        sort: [...policies],
        scale: { domain: [...policies], range: policies.map((p) => COLORS[p] ?? "#17becf") },
      },
      strokeWidth: { condition: { test: `datum.policy === '${OPTIMUM}'`, value: 3 }, value: 1.5 },
    },
    config: { font: "sans-serif" },
  };
}

export function demandMetChartSvg(result: TraceResult): Promise<string> {
  return renderSvg(demandMetChartSpec(result));
}
