// One chart per site: site load through the day for each policy against the demand limit, with
// the building load, the price tiers shaded and the DR window marked. Vega-Lite, rendered to SVG
// headless (no browser, no canvas).
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { PositionDef } from "vega-lite/types_unstable/channeldef.js";
import { POLICIES, type Policy } from "./metrics.js";
import type { SiteSpec } from "./model/scenario.js";
import type { PriceTier } from "./model/tariff.js";
import { SERVICE_POLICY_SPECS, type ServicePolicy } from "./service-policies.js";
import type { SiteResult } from "./simulate.js";

const POLICY_COLORS: Record<Policy, string> = {
  UNCONTROLLED: "#d62728",
  TUTORIAL: "#9467bd",
  ...(Object.fromEntries(SERVICE_POLICY_SPECS.map((s) => [s.policy, s.color])) as Record<ServicePolicy, string>),
};
const TIER_COLORS: Record<PriceTier, string> = {
  OFF_PEAK: "#e5f5e0",
  MID_PEAK: "#fff7bc",
  ON_PEAK: "#fdd49e",
  CRITICAL_PEAK: "#fc9272",
};
const TIERS: readonly PriceTier[] = ["OFF_PEAK", "MID_PEAK", "ON_PEAK", "CRITICAL_PEAK"];

const round1 = (x: number) => Math.round(x * 10) / 10;

export function siteChartSpec(site: SiteSpec, result: SiteResult, stepS: number): TopLevelSpec {
  const hourOf = (step: number) => Math.round(((step * stepS) / 3600) * 1000) / 1000;
  const loads = POLICIES.flatMap((policy) =>
    result.loadKw[policy].map((kw, step) => ({ hour: hourOf(step), kw: round1(kw), policy })),
  );
  const building = result.buildingKw.map((kw, step) => ({ hour: hourOf(step), kw: round1(kw) }));
  const tiers = site.tariff.map((p) => ({ from: p.fromS / 3600, to: p.toS / 3600, tier: p.tier }));
  const dr = site.dr;
  const drTargetKw = round1(dr.baselineKw * (1 - dr.curtailmentPct / 100));
  const drWindow = [
    { from: dr.startS / 3600, to: dr.endS / 3600, label: `DR \u2212${dr.curtailmentPct} %`, target: drTargetKw },
  ];
  const maxKw = Math.max(site.demandLimitKw, ...loads.map((d) => d.kw)) * 1.08;
  const x: PositionDef<string> = {
    field: "hour",
    type: "quantitative",
    scale: { domain: [0, 24], nice: false },
    axis: { values: [0, 3, 6, 9, 12, 15, 18, 21, 24], title: "hour of day (UTC)" },
  };
  const y: PositionDef<string> = {
    field: "kw",
    type: "quantitative",
    scale: { domain: [0, maxKw], nice: false },
    title: "kW",
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `${site.id} (${site.kind}): site load vs demand limit ${site.demandLimitKw} kW`,
      subtitle: `${site.fleet.length} vehicles; building (grey) + EV load, ${stepS}-s means; shaded: price tier; purple: DR event and its target (${drTargetKw} kW)`,
    },
    width: 1000,
    height: 360,
    resolve: { scale: { color: "independent" } },
    layer: [
      {
        data: { values: tiers },
        mark: { type: "rect", opacity: 0.7 },
        encoding: {
          x: { field: "from", type: "quantitative", scale: { domain: [0, 24], nice: false } },
          x2: { field: "to" },
          color: {
            field: "tier",
            type: "nominal",
            title: "price tier",
            scale: { domain: [...TIERS], range: TIERS.map((t) => TIER_COLORS[t]) },
          },
        },
      },
      {
        data: { values: drWindow },
        layer: [
          {
            mark: { type: "rect", color: "#6a51a3", opacity: 0.12, stroke: "#6a51a3", strokeDash: [4, 3] },
            encoding: { x: { field: "from", type: "quantitative" }, x2: { field: "to" } },
          },
          {
            mark: { type: "rule", color: "#6a51a3", strokeWidth: 2, strokeDash: [6, 2] },
            encoding: {
              x: { field: "from", type: "quantitative" },
              x2: { field: "to" },
              y: { field: "target", type: "quantitative" },
            },
          },
          {
            mark: { type: "text", color: "#6a51a3", align: "left", dx: 3, dy: 10, baseline: "top", fontWeight: "bold" },
            encoding: { x: { field: "from", type: "quantitative" }, y: { datum: maxKw }, text: { field: "label" } },
          },
        ],
      },
      {
        data: { values: building },
        mark: { type: "area", color: "#bdbdbd", opacity: 0.6 },
        encoding: { x, y },
      },
      {
        data: { values: loads },
        mark: { type: "line", strokeWidth: 1 },
        encoding: {
          x,
          y,
          color: {
            field: "policy",
            type: "nominal",
            title: "site load under",
            sort: [...POLICIES],
            scale: { domain: [...POLICIES], range: POLICIES.map((p) => POLICY_COLORS[p]) },
          },
        },
      },
      {
        data: { values: [{ kw: site.demandLimitKw, label: `demand limit ${site.demandLimitKw} kW` }] },
        layer: [
          { mark: { type: "rule", color: "black", strokeWidth: 1.5, strokeDash: [8, 4] }, encoding: { y } },
          {
            mark: { type: "text", align: "left", dx: 4, dy: -6, fontWeight: "bold" },
            encoding: { x: { datum: 0 }, y, text: { field: "label" } },
          },
        ],
      },
    ],
    config: { font: "sans-serif", legend: { orient: "right" } },
  };
}

/** Path coordinates to 0.1 px: the same picture in a third of the bytes. */
function compactPaths(svg: string): string {
  return svg.replace(/ d="([^"]*)"/g, (_, d: string) => {
    const rounded = d.replace(/-?\d+\.\d+/g, (n) => String(Math.round(Number(n) * 10) / 10));
    return ` d="${rounded}"`;
  });
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return compactPaths(await view.toSVG());
  } finally {
    view.finalize();
  }
}

export function siteChartSvg(site: SiteSpec, result: SiteResult, stepS: number): Promise<string> {
  return renderSvg(siteChartSpec(site, result, stepS));
}
