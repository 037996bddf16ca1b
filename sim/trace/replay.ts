// A trace replay: the same world (one site, recorded sessions) under each capacity for the
// offline optimum, the reference schedulers and the service's policies, side by side.
import { Rng } from "../model/random.js";
import { SERVICE_POLICIES, type ServicePolicy } from "../service-policies.js";
import { type OptimumResult, solveOptimum } from "./optimum.js";
import { SERVED_TOLERANCE_KWH, type TraceMetrics, TracePlant } from "./plant.js";
import { REFERENCE_POLICIES, type ReferencePolicy, runReference } from "./schedulers.js";
import { runServicePolicies, type ServiceRunStats } from "./service-driver.js";
import type { TraceWorld } from "./world.js";

/** "unlimited" for an infinite capacity. */
export const capacityLabel = (kw: number) => (Number.isFinite(kw) ? `${kw} kW` : "unlimited");

export const OPTIMUM = "OPTIMUM";
export const TRACE_POLICIES = [OPTIMUM, ...REFERENCE_POLICIES, ...SERVICE_POLICIES] as const;
export type TracePolicy = (typeof TRACE_POLICIES)[number];

export interface TraceRunOptions {
  readonly world: TraceWorld;
  readonly capacitiesKw: readonly number[];
  /** Default: all of TRACE_POLICIES. */
  readonly policies?: readonly TracePolicy[];
  readonly seed?: number;
  readonly commandDelayS?: readonly [number, number];
  readonly databaseUrl?: string;
  readonly priceSignals?: boolean;
  readonly log?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface PolicyRun extends TraceMetrics {
  /** Wall time of this policy's run, ms (the service's policies share one loop: its time). */
  readonly runMs: number;
}

export interface TraceResult {
  readonly world: TraceWorld;
  readonly capacitiesKw: readonly number[];
  readonly commandDelayS: readonly [number, number];
  readonly runs: readonly PolicyRun[];
  readonly optimum: readonly OptimumResult[];
  readonly service: ServiceRunStats | null;
  readonly totalMs: number;
}

export async function runTrace(options: TraceRunOptions): Promise<TraceResult> {
  const started = performance.now();
  const { world, capacitiesKw } = options;
  const log = options.log ?? (() => {});
  const policies = options.policies ?? TRACE_POLICIES;
  const seed = options.seed ?? 42;
  const commandDelayS = options.commandDelayS ?? ([2, 5] as const);
  if (commandDelayS[1] >= world.stepS) throw new Error("the command delay must be shorter than a step");
  const plant = (policy: string, capacityKw: number) =>
    new TracePlant(world, {
      policy,
      capacityKw,
      controlled: policy !== "UNCONTROLLED",
      commandDelayS,
      delayRng: Rng.derive(seed, `${capacityKw}/${policy}/cpms`),
    });
  const days = Math.ceil((world.steps * world.stepS) / 86_400);
  const runs: PolicyRun[] = [];
  const optimum: OptimumResult[] = [];

  for (const capacityKw of capacitiesKw) {
    if (policies.includes(OPTIMUM)) {
      const result = await solveOptimum(world, capacityKw);
      optimum.push(result);
      log(
        `${capacityLabel(capacityKw)}: optimum ${result.energyKwh.toFixed(1)} kWh, LP ${result.size.columns} columns x ${result.size.rows} rows, ` +
          `solved in ${((result.energySolveMs + result.costSolveMs) / 1000).toFixed(2)} s`,
      );
      runs.push({
        ...optimumMetrics(world, result),
        runMs: result.buildMs + result.energySolveMs + result.costSolveMs,
      });
    }
    for (const policy of REFERENCE_POLICIES.filter((p) => policies.includes(p))) {
      const t0 = performance.now();
      const p = plant(policy, capacityKw);
      runReference(p, policy as ReferencePolicy, (day) => {
        if (days > 7) log(`  ${capacityLabel(capacityKw)} ${policy}: day ${day}/${days}`);
      });
      runs.push({ ...p.finish(), runMs: performance.now() - t0 });
    }
  }

  let service: ServiceRunStats | null = null;
  const servicePolicies = SERVICE_POLICIES.filter((p) => policies.includes(p));
  if (servicePolicies.length > 0) {
    const plants = capacitiesKw.flatMap((capacityKw) =>
      servicePolicies.map((policy: ServicePolicy) => plant(policy, capacityKw)),
    );
    log(`Service (in process): ${servicePolicies.join(", ")} at ${capacitiesKw.join(", ")} kW, ${world.steps} steps`);
    service = await runServicePolicies(plants, {
      databaseUrl: options.databaseUrl,
      priceSignals: options.priceSignals,
      log,
      signal: options.signal,
    });
    for (const p of plants) runs.push({ ...p.finish(), runMs: service.loopMs });
  }
  const order = (r: PolicyRun) => TRACE_POLICIES.indexOf(r.policy as TracePolicy);
  runs.sort((a, b) => a.capacityKw - b.capacityKw || order(a) - order(b));
  return { world, capacitiesKw, commandDelayS, runs, optimum, service, totalMs: performance.now() - started };
}

/** The optimum's schedule measured like a policy's (no command delay, so nothing over the limit). */
export function optimumMetrics(world: TraceWorld, result: OptimumResult): TraceMetrics {
  const quarterS = 900;
  const quarters = new Float64Array(Math.ceil((world.steps * world.stepS) / quarterS) + 1);
  let peakKw = 0;
  for (let t = 0; t < world.steps; t += 1) {
    const kw = (result.loadKw[t] ?? 0) + (world.buildingKw[t] ?? 0);
    peakKw = Math.max(peakKw, kw);
    // A step's energy into the quarter-hours it covers.
    for (let s = t * world.stepS; s < (t + 1) * world.stepS; ) {
      const q = Math.floor(s / quarterS);
      const until = Math.min((t + 1) * world.stepS, (q + 1) * quarterS);
      quarters[q] = (quarters[q] ?? 0) + (kw * (until - s)) / 3600;
      s = until;
    }
  }
  const served = world.sessions.filter(
    (s) => (result.deliveredKwh[s.index] ?? 0) >= s.energyKwh - SERVED_TOLERANCE_KWH,
  ).length;
  return {
    policy: OPTIMUM,
    capacityKw: result.capacityKw,
    energyKwh: result.energyKwh,
    requestedKwh: world.sessions.reduce((sum, s) => sum + s.energyKwh, 0),
    sessions: world.sessions.length,
    sessionsFullyServed: served,
    peakKw,
    peak15MinKw: Math.max(0, ...Array.from(quarters, (kwh) => (kwh * 3600) / quarterS)),
    costUsd: result.costUsd,
    overLimitKwh: 0,
    overLimitKwhAfterDelay: 0,
    commands: 0,
    chargerHours: world.sessions.reduce((sum, s) => sum + ((s.departureStep - s.arrivalStep) * world.stepS) / 3600, 0),
    deliveredKwh: result.deliveredKwh,
  };
}
