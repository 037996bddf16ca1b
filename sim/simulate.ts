// One simulation run: the same seeded day under every policy. The uncontrolled and tutorial
// baselines are simulated locally; the service's policies (sim/service-policies.ts: EQUAL_SHARE,
// WATER_FILL, BID_WEIGHTED) are the real service, driven in closed loop through its public
// interfaces (all at once, as separate sites of one service).

import { serviceController, serviceSiteId } from "./controllers/service.js";
import { tutorial } from "./controllers/tutorial.js";
import type { Controller } from "./controllers/types.js";
import { uncontrolled } from "./controllers/uncontrolled.js";
import { type CommandKinds, CpmsStandIn } from "./cpms.js";
import { GraphQLHttp } from "./gql.js";
import { POLICIES, type Policy, type PolicySummary, type SiteMetrics, summarize } from "./metrics.js";
import { yesterdayUtc } from "./model/clock.js";
import { Rng } from "./model/random.js";
import { buildScenario, type Scenario } from "./model/scenario.js";
import { SitePlant } from "./plant.js";
import { startService } from "./service.js";
import { SERVICE_POLICIES } from "./service-policies.js";
import { type OptimumResult, solveOptimum } from "./trace/optimum.js";
import { worldFromSite } from "./trace/world.js";

export interface SimulationOptions {
  readonly seed?: number;
  /** Quick: smaller fleets and 60-s steps (CI-sized); otherwise full-size fleets and 30-s steps. */
  readonly quick?: boolean;
  /** Sites (default: 3 quick, 10 full); they cycle through office, depot and retail. */
  readonly siteCount?: number;
  readonly stepS?: number;
  /** Run the service against this database; unset: an ephemeral embedded PostgreSQL. */
  readonly databaseUrl?: string;
  readonly dayStartMs?: number;
  readonly commandDelayS?: readonly [number, number];
  readonly sampleIntervalS?: number;
  readonly log?: (message: string) => void;
  /** Stops the run between steps (the service and its database are still stopped and removed). */
  readonly signal?: AbortSignal;
}

export interface SiteResult {
  readonly siteId: string;
  readonly kind: string;
  readonly demandLimitKw: number;
  readonly vehicles: number;
  readonly metrics: Readonly<Record<Policy, SiteMetrics>>;
  /** Mean site load per step, kW, per policy (for charts). */
  readonly loadKw: Readonly<Record<Policy, readonly number[]>>;
  readonly buildingKw: readonly number[];
  /** The service's commands by kind, per service policy (service-driven sites only). */
  readonly commandKinds: Readonly<Record<string, CommandKinds>>;
  /** Alerts the service raised, per type (service-driven sites only). */
  readonly alertsRaised: Readonly<Record<string, Record<string, number>>>;
  /**
   * The offline optimum's energy on this site's day (sim/trace/optimum.ts): an upper bound, as it
   * ignores the DR event and the taper; and its LP solve time, ms.
   */
  readonly optimumKwh: number;
  readonly optimumSolveMs: number;
}

export interface SimulationResult {
  readonly seed: number;
  readonly quick: boolean;
  readonly day: string;
  readonly stepS: number;
  readonly commandDelayS: readonly [number, number];
  readonly scenario: Scenario;
  readonly sites: readonly SiteResult[];
  readonly summary: readonly PolicySummary[];
  readonly timing: {
    readonly localMs: number;
    readonly serviceStartMs: number;
    readonly serviceLoopMs: number;
    /** Real ms in the service loop's phases: setClock, the sites' reports, waiting for their commands. */
    readonly clockMs: number;
    readonly siteReportsMs: number;
    readonly settleMs: number;
    readonly totalMs: number;
  };
  readonly commandsReceived: number;
  readonly commandKinds: Readonly<Record<"first" | "increases" | "decreases" | "smallDecreases", number>>;
  /** From the service's /metrics at the end of the loop. */
  readonly serviceMetrics: Readonly<Record<string, number>>;
}

/** Runs the day for the plants of the given controllers, step by step. */
async function runDay(
  scenario: Scenario,
  plants: readonly SitePlant[],
  controllers: readonly Controller[],
  log: (m: string) => void,
  signal?: AbortSignal,
) {
  const own = (c: Controller) => plants.filter((p) => c.policies.includes(p.policy));
  for (const c of controllers) await c.start(own(c));
  const { steps, stepS } = scenario.time;
  const began = performance.now();
  for (let step = 0; step < steps; step += 1) {
    signal?.throwIfAborted();
    const reports = plants.map((plant) => ({ plant, report: plant.beginStep(step) }));
    for (const c of controllers) {
      await c.step(
        step * stepS,
        reports.filter((r) => c.policies.includes(r.plant.policy)),
      );
    }
    for (const plant of plants) plant.advance(step);
    if ((step * stepS) % (3 * 3600) === 0 && step > 0) {
      log(`  ${String((step * stepS) / 3600).padStart(2)}:00  (${((performance.now() - began) / 1000).toFixed(1)} s)`);
    }
  }
  for (const c of controllers) await c.stop();
}

export async function runSimulation(options: SimulationOptions = {}): Promise<SimulationResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const seed = options.seed ?? 42;
  const quick = options.quick ?? false;
  // Quick runs step a minute (meter values and demand each minute) to stay under 2 minutes.
  const stepS = options.stepS ?? (quick ? 60 : 30);
  const commandDelayS = options.commandDelayS ?? ([2, 5] as const);
  const sampleIntervalS = options.sampleIntervalS ?? Math.max(60, stepS);
  if (sampleIntervalS % stepS !== 0)
    throw new Error(`meter value interval ${sampleIntervalS} s must be a multiple of the step`);
  if (commandDelayS[1] >= stepS) throw new Error("the command delay must be shorter than a step");
  const scenario = buildScenario({
    seed,
    siteCount: options.siteCount ?? (quick ? 3 : 10),
    dayStartMs: options.dayStartMs ?? yesterdayUtc(),
    stepS,
    fleetScale: quick ? 0.6 : 1,
  });
  const plantsFor = (policy: Policy) =>
    scenario.sites.map(
      (site) =>
        new SitePlant(site, {
          policy,
          stepS,
          // Without control a charger gives what the vehicle takes; with control it waits for
          // its first profile (a TxDefaultProfile of 0 kW).
          initialLimitKw: policy === "UNCONTROLLED" ? null : 0,
          commandDelayS,
          sampleIntervalS,
          delayRng: Rng.derive(seed, `${site.id}/${policy}/cpms`),
        }),
    );
  const plants = new Map<Policy, SitePlant[]>(POLICIES.map((p) => [p, plantsFor(p)]));
  const all = (...policies: Policy[]) => policies.flatMap((p) => plants.get(p) ?? []);

  log(`Local baselines (uncontrolled, tutorial formula): ${scenario.sites.length} sites`);
  await runDay(scenario, all("UNCONTROLLED", "TUTORIAL"), [uncontrolled(), tutorial()], log, options.signal);
  const localMs = performance.now() - started;

  // DR enrolment from the uncontrolled run: the baseline is the site load in the window (at most
  // the demand limit); the site offers half of its EV load there as curtailment (5-40 %).
  for (const [i, site] of scenario.sites.entries()) {
    const meter = plants.get("UNCONTROLLED")?.[i]?.meter;
    const baselineKw = Math.round(Math.min(site.demandLimitKw, meter?.drWindowMeanKw() ?? site.demandLimitKw));
    const flexibleKw = 0.5 * (meter?.drWindowEvMeanKw() ?? 0);
    site.dr.baselineKw = baselineKw;
    site.dr.curtailmentPct = Math.min(40, Math.max(5, Math.round((100 * flexibleKw) / Math.max(1, baselineKw))));
  }

  log("Starting the service (in process)");
  const serviceStarted = performance.now();
  const service = await startService({ databaseUrl: options.databaseUrl });
  const cpms = await CpmsStandIn.connect(service.wsUrl, service.apiKey).catch(async (error: unknown) => {
    await service.stop();
    throw error;
  });
  const serviceStartMs = performance.now() - serviceStarted;
  const controller = serviceController({
    api: new GraphQLHttp(service.url, service.apiKey),
    cpms,
    time: scenario.time,
  });
  let loopMs = 0;
  let serviceMetrics: Record<string, number> = {};
  try {
    log(`Service loop (${SERVICE_POLICIES.join(", ")} sites, ${scenario.time.steps} steps of ${stepS} s)`);
    const loopStarted = performance.now();
    await runDay(scenario, all(...SERVICE_POLICIES), [controller], log, options.signal);
    loopMs = performance.now() - loopStarted;
    serviceMetrics = await scrapeMetrics(service.metricsUrl);
  } finally {
    await cpms.close().catch(() => {});
    await service.stop();
  }

  const optima: OptimumResult[] = [];
  for (const site of scenario.sites)
    optima.push(await solveOptimum(worldFromSite(site, scenario.time), site.demandLimitKw));
  const metricsOf = (policy: Policy) => (plants.get(policy) ?? []).map((p) => p.finish());
  const byPolicy = new Map<Policy, SiteMetrics[]>(POLICIES.map((p) => [p, metricsOf(p)]));
  const sites: SiteResult[] = scenario.sites.map((site, i) => {
    const pick = <T>(f: (policy: Policy) => T) =>
      Object.fromEntries(POLICIES.map((p) => [p, f(p)])) as Record<Policy, T>;
    const alertsRaised: Record<string, Record<string, number>> = {};
    const commandKinds: Record<string, CommandKinds> = {};
    for (const policy of SERVICE_POLICIES) {
      const plant = plants.get(policy)?.[i];
      if (!plant) continue;
      alertsRaised[policy] = Object.fromEntries(cpms.alertsRaised.get(serviceSiteId(plant)) ?? []);
      const kinds = cpms.kindsBySite.get(serviceSiteId(plant));
      commandKinds[policy] = { first: 0, increases: 0, decreases: 0, smallDecreases: 0, ...kinds };
    }
    return {
      siteId: site.id,
      kind: site.kind,
      demandLimitKw: site.demandLimitKw,
      vehicles: site.fleet.length,
      metrics: pick((p) => byPolicy.get(p)?.[i] as SiteMetrics),
      loadKw: pick((p) => Array.from(plants.get(p)?.[i]?.meter.stepLoadKw ?? [], (x) => Math.round(x * 10) / 10)),
      buildingKw: Array.from(site.buildingKw),
      commandKinds,
      alertsRaised,
      optimumKwh: optima[i]?.energyKwh ?? Number.NaN,
      optimumSolveMs: (optima[i]?.energySolveMs ?? 0) + (optima[i]?.costSolveMs ?? 0),
    };
  });
  return {
    seed,
    quick,
    day: new Date(scenario.time.dayStartMs).toISOString().slice(0, 10),
    stepS,
    commandDelayS,
    scenario,
    sites,
    summary: POLICIES.map((p) => summarize(p, byPolicy.get(p) ?? [])),
    timing: {
      localMs,
      serviceStartMs,
      serviceLoopMs: loopMs,
      clockMs: controller.stats.clockMs,
      siteReportsMs: controller.stats.reportsMs,
      settleMs: controller.stats.settleMs,
      totalMs: performance.now() - started,
    },
    commandsReceived: cpms.received,
    commandKinds: { ...cpms.kinds },
    serviceMetrics,
  };
}

/** A few counters from the service's Prometheus endpoint (summed over labels). */
async function scrapeMetrics(url: string): Promise<Record<string, number>> {
  const wanted = ["scc_boundary_sites_recomputed_total", "scc_stream_transactions_total", "scc_http_requests_total"];
  const text = await (await fetch(url)).text();
  const totals: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] && wanted.includes(match[1])) totals[match[1]] = (totals[match[1]] ?? 0) + Number(match[3]);
  }
  return totals;
}
