// A site's load through the last hours with uPlot: building, EV, commanded sum, limit, EV cap and
// target from siteHistory, the live figures as the last point, price tiers and DR shaded behind.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

const TIER_SHADE = {
  MID_PEAK: "rgba(240, 190, 0, 0.13)",
  ON_PEAK: "rgba(240, 120, 0, 0.18)",
  CRITICAL_PEAK: "rgba(210, 30, 30, 0.20)",
};
const DR_SHADE = "rgba(110, 60, 200, 0.55)";

const SERIES = [
  { key: "buildingKw", label: "Building", stroke: "#7a7f87", fill: "rgba(122,127,135,0.12)" },
  { key: "evLoadKw", label: "EV load", stroke: "#1f6fd1", width: 2 },
  { key: "commandedKw", label: "Commanded", stroke: "#1a9b50", width: 2, dash: [6, 3] },
  { key: "limitKw", label: "Limit", stroke: "#c62828", width: 2 },
  { key: "evCapKw", label: "EV cap C", stroke: "#8e44ad", dash: [2, 3] },
  { key: "targetKw", label: "Target T", stroke: "#e67e22", width: 2, dash: [8, 4] },
];

/** The figures of the site now, as the last point of the chart. */
const LIVE = {
  buildingKw: "buildingLoadKw",
  evLoadKw: "evLoadKw",
  commandedKw: "commandedKw",
  limitKw: "demandLimitKw",
  evCapKw: "evCapKw",
  targetKw: "targetKw",
};

/** uPlot's columns: x in seconds, one array per series; bands of tier and DR per bucket. */
function columns(history, site, nowMs) {
  const x = [];
  const ys = SERIES.map(() => []);
  const bands = [];
  const step =
    history.buckets.length > 1
      ? (Date.parse(history.buckets[1].start) - Date.parse(history.buckets[0].start)) / 1000
      : 60;
  for (const b of history.buckets) {
    const t = Date.parse(b.start) / 1000;
    x.push(t);
    for (const [i, s] of SERIES.entries()) ys[i].push(b[s.key] ?? null);
    if (b.priceTier || b.drActive)
      bands.push({ from: t, to: Math.min(t + step, nowMs / 1000), tier: b.priceTier, dr: b.drActive });
  }
  const tail = x.at(-1);
  if (tail === undefined || nowMs / 1000 > tail) {
    x.push(nowMs / 1000);
    for (const [i, s] of SERIES.entries()) {
      const field = LIVE[s.key];
      ys[i].push(site[field] ?? null);
    }
  }
  return { data: [x, ...ys], bands };
}

/** Draws the tier and DR bands under the series. */
function shading(getBands) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const { ctx } = u;
          const { left, top, width, height } = u.bbox;
          ctx.save();
          for (const band of getBands()) {
            const x0 = Math.max(left, u.valToPos(band.from, "x", true));
            const x1 = Math.min(left + width, u.valToPos(band.to, "x", true));
            if (x1 <= x0) continue;
            const shade = TIER_SHADE[band.tier];
            if (shade) {
              ctx.fillStyle = shade;
              ctx.fillRect(x0, top, x1 - x0, height);
            }
            if (band.dr) {
              ctx.fillStyle = DR_SHADE;
              ctx.fillRect(x0, top, x1 - x0, Math.max(6, height * 0.04));
            }
          }
          ctx.restore();
        },
      ],
    },
  };
}

export function HistoryChart({ history, site, nowMs }) {
  const box = useRef(null);
  const plot = useRef(null);
  const bands = useRef([]);
  const data = history ? columns(history, site, nowMs) : null;

  useEffect(() => {
    if (!box.current) return undefined;
    const width = () => Math.max(280, box.current.clientWidth);
    const height = () => (box.current.clientWidth < 600 ? 240 : 320);
    plot.current = new uPlot(
      {
        width: width(),
        height: height(),
        plugins: [shading(() => bands.current)],
        scales: { y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 1) * 1.08)] } },
        axes: [{}, { label: "kW", size: 56 }],
        series: [
          {},
          ...SERIES.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: s.width ?? 1.5,
            dash: s.dash,
            fill: s.fill,
            spanGaps: false,
            value: (_u, v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} kW`),
          })),
        ],
      },
      [[], ...SERIES.map(() => [])],
      box.current,
    );
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: height() }));
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    if (!data || !plot.current) return;
    bands.current = data.bands;
    plot.current.setData(data.data);
  });

  return html`<div class="chart-wrap">
    <div class="chart" ref=${box} data-points=${data ? data.data[0].length : 0}></div>
    <p class="legend-note">
      Shading: <span class="swatch mid"></span> mid-peak <span class="swatch on"></span> on-peak
      <span class="swatch crit"></span> critical peak <span class="swatch dr"></span> demand response.
      Buckets are time-weighted means; the last point is now.
    </p>
    ${!history && html`<p class="loading">Loading the history…</p>`}
  </div>`;
}
