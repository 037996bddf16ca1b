// `npm run simulate -- --trace FILE …`: parses the options, replays the trace, prints the table,
// writes sim/out/<stamp>-trace.json, the sweep chart, and with --json FILE the SPEC §14 shape.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseTraceCsv } from "./csv.js";
import { runTrace, TRACE_POLICIES, type TracePolicy } from "./replay.js";
import { contractJson, demandMetChartSvg, formatTraceReport, toTraceJson } from "./report.js";
import { type BatteryMode, buildWorld, INFORM_MODES, type Inform } from "./world.js";

export interface TraceCliArgs {
  readonly trace: string;
  readonly limitKw?: string;
  readonly sweep?: string;
  readonly step?: string;
  readonly from?: string;
  readonly to?: string;
  readonly battery?: string;
  readonly inform?: string;
  readonly json?: string;
  readonly policies?: string;
  readonly buildingKw?: string;
  readonly seed?: string;
  readonly priceSignals: boolean;
  readonly databaseUrl?: string;
}

function capacities(args: TraceCliArgs): number[] {
  const raw = args.sweep ?? args.limitKw;
  if (raw === undefined) throw new Error("--trace needs --limit-kw KW or --sweep KW,KW,…");
  if (args.sweep !== undefined && args.limitKw !== undefined) throw new Error("give --limit-kw or --sweep, not both");
  return raw.split(",").map((part) => {
    const kw = part.trim() === "unlimited" ? Number.POSITIVE_INFINITY : Number(part);
    if (!(kw > 0)) throw new Error(`capacity "${part}" must be a positive number of kW (or "unlimited")`);
    return kw;
  });
}

function buildingKw(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const kw = Number(raw);
  if (!(kw >= 0) || !Number.isFinite(kw)) throw new Error(`--building-kw "${raw}" must be a number of kW, at least 0`);
  return kw;
}

function time(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new Error(`--${name} "${raw}" is not an ISO-8601 date or date-time`);
  return ms;
}

function choice<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`--${name} must be one of ${allowed.join(", ")}`);
  return raw as T;
}

export async function traceMain(args: TraceCliArgs, simDir: string, signal: AbortSignal): Promise<void> {
  const capacitiesKw = capacities(args);
  const stepS = Number(args.step ?? 300);
  const policies = args.policies
    ?.split(",")
    .map((p) => choice("policies", p.trim().toUpperCase(), TRACE_POLICIES) as TracePolicy);
  const text = await readFile(args.trace, "utf8");
  const world = buildWorld(parseTraceCsv(text, args.trace), {
    stepS,
    fromMs: time("from", args.from),
    toMs: time("to", args.to),
    battery: choice<BatteryMode>("battery", args.battery, ["ideal", "curve"]),
    inform: choice<Inform>("inform", args.inform, INFORM_MODES),
    buildingKw: buildingKw(args.buildingKw),
  });
  const result = await runTrace({
    world,
    capacitiesKw,
    policies,
    seed: args.seed === undefined ? undefined : Number(args.seed),
    databaseUrl: args.databaseUrl,
    priceSignals: args.priceSignals,
    log: (m) => console.error(m),
    signal,
  });
  console.log(formatTraceReport(result));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outDir = path.join(simDir, "out");
  await mkdir(outDir, { recursive: true });
  const written = [path.join(outDir, `${stamp}-trace.json`)];
  await writeFile(written[0] as string, `${JSON.stringify(toTraceJson(result), null, 1)}\n`);
  if (args.json) {
    await writeFile(args.json, `${JSON.stringify(contractJson(result), null, 2)}\n`);
    written.push(args.json);
  }
  if (capacitiesKw.length > 1) {
    const svg = await demandMetChartSvg(result);
    const chart = path.join(outDir, `${stamp}-demand-vs-capacity.svg`);
    const latest = path.join(simDir, "charts", "trace-demand-vs-capacity.svg");
    await mkdir(path.dirname(latest), { recursive: true });
    await writeFile(chart, svg);
    await writeFile(latest, svg);
    written.push(chart, latest);
  }
  console.log(`\nWritten: ${written.map((p) => path.relative(process.cwd(), p)).join(", ")}`);
}
