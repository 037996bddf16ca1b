// npm run simulate [-- --quick] [--seed N] [--sites N] [--step S] [--database-url URL]
// Runs the closed-loop fleet simulation; prints a table, writes sim/out/<timestamp>.json and a
// chart per site (sim/out/<timestamp>/<site>.svg; the latest run's also in sim/charts/).
//
// npm run simulate -- --trace FILE (--limit-kw KW | --sweep KW,KW,…) [--step 300] [--from ISO]
//   [--to ISO] [--battery ideal|curve] [--inform none|departure|departure+energy] [--json FILE]
//   [--policies OPTIMUM,LLF,WATER_FILL,…] [--building-kw KW] [--no-price-signals] [--database-url URL]
// Replays recorded sessions at one site (sim/trace/): the offline optimum, the reference
// schedulers and the service's policies per capacity (see sim/README.md).
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { siteChartSvg } from "./chart.js";
import { formatReport, toJson } from "./report.js";
import { runSimulation } from "./simulate.js";
import { traceMain } from "./trace/cli.js";

const SIM_DIR = path.dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    seed: { type: "string", default: "42" },
    sites: { type: "string" },
    step: { type: "string" },
    "database-url": { type: "string" },
    trace: { type: "string" },
    "limit-kw": { type: "string" },
    sweep: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    battery: { type: "string" },
    inform: { type: "string" },
    json: { type: "string" },
    policies: { type: "string" },
    "building-kw": { type: "string" },
    "no-price-signals": { type: "boolean", default: false },
  },
});

const numberArg = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return n;
};

// Ctrl-C stops between steps, so the embedded PostgreSQL is still stopped and removed.
const abort = new AbortController();
process.once("SIGINT", () => {
  console.error("Stopping…");
  abort.abort();
});

if (values.trace !== undefined) {
  await traceMain(
    {
      trace: values.trace,
      limitKw: values["limit-kw"],
      sweep: values.sweep,
      step: values.step,
      from: values.from,
      to: values.to,
      battery: values.battery,
      inform: values.inform,
      json: values.json,
      policies: values.policies,
      buildingKw: values["building-kw"],
      seed: values.seed,
      priceSignals: !values["no-price-signals"],
      databaseUrl: values["database-url"],
    },
    SIM_DIR,
    abort.signal,
  ).catch((error: unknown) => {
    if (abort.signal.aborted) {
      console.error("Stopped; the service and its database were shut down.");
      process.exit(130);
    }
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
  process.exit(0);
}

const result = await runSimulation({
  quick: values.quick,
  seed: numberArg("seed", values.seed),
  siteCount: numberArg("sites", values.sites),
  stepS: numberArg("step", values.step),
  databaseUrl: values["database-url"],
  log: (message) => console.error(message),
  signal: abort.signal,
}).catch((error: unknown) => {
  if (!abort.signal.aborted) throw error;
  console.error("Stopped; the service and its database were shut down.");
  process.exit(130);
});
console.log(formatReport(result));

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const outDir = path.join(SIM_DIR, "out");
const chartDir = path.join(outDir, stamp);
const latestDir = path.join(SIM_DIR, "charts");
await mkdir(chartDir, { recursive: true });
await mkdir(latestDir, { recursive: true });
const jsonFile = path.join(outDir, `${stamp}.json`);
await writeFile(jsonFile, `${JSON.stringify(toJson(result))}\n`);
// The latest site charts replace the previous run's (which may have had other sites); the trace
// replay's chart beside them stays.
for (const old of await readdir(latestDir)) if (/^site-.*\.svg$/.test(old)) await rm(path.join(latestDir, old));
for (const [i, site] of result.scenario.sites.entries()) {
  const siteResult = result.sites[i];
  if (!siteResult) continue;
  const svg = await siteChartSvg(site, siteResult, result.stepS);
  await writeFile(path.join(chartDir, `${site.id}.svg`), svg);
  await writeFile(path.join(latestDir, `${site.id}.svg`), svg);
}
const rel = (p: string) => path.relative(process.cwd(), p);
console.log(`\nJSON: ${rel(jsonFile)}\nCharts: ${rel(chartDir)}/*.svg (latest in ${rel(latestDir)}/)`);
