// What a run of one policy at one site achieved: grid-limit compliance, energy, fairness, cost,
// demand-response compliance and command traffic. Fed second by second by the site plant.
import type { Vehicle } from "./model/physics.js";
import type { SiteSpec } from "./model/scenario.js";
import { SERVICE_POLICIES, type ServicePolicy } from "./service-policies.js";

/** The local baselines, then the service's policies (sim/service-policies.ts). */
export type Policy = "UNCONTROLLED" | "TUTORIAL" | ServicePolicy;
export const POLICIES: readonly Policy[] = ["UNCONTROLLED", "TUTORIAL", ...SERVICE_POLICIES];

/** Below this an overshoot is rounding, not a breach. */
const EPS_KW = 0.01;
/** A vehicle that got this close to its request got it. */
const MET_TOLERANCE_KWH = 0.1;

export interface SiteMetrics {
  readonly siteId: string;
  readonly policy: Policy;
  /** Energy of total site load (building + EV) above the demand limit, kWh. */
  readonly overshootKwh: number;
  readonly worstOvershootKw: number;
  readonly overshootSeconds: number;
  /** Overshoot the EVs caused (min(overshoot, EV load)) more than the command delay after a step. */
  readonly overshootSecondsAfterDelay: number;
  readonly overshootKwhAfterDelay: number;
  /** Steps with any overshoot, and of those the steps where the building load had just risen. */
  readonly overshootSteps: number;
  readonly overshootStepsAfterBuildingRise: number;
  /** Seconds with site load within 2 % under the limit (or over it): the cap is what binds. */
  readonly secondsNearLimit: number;
  readonly peakSiteKw: number;
  /** Highest 15-minute mean site load: what a utility bills as demand. */
  readonly peak15MinKw: number;
  readonly energyKwh: number;
  /** Energy allowed to tapering or full vehicles but not drawn, while others were held back. */
  readonly strandedKwh: number;
  readonly requestedKwh: number;
  readonly sessions: number;
  /** Sessions whose departure is inside the day (the others stay past midnight). */
  readonly sessionsEvaluated: number;
  readonly metShare: number;
  /** Per evaluated session: min(1, delivered / requested). */
  readonly servedRatios: readonly number[];
  readonly jain: number;
  readonly evCostUsd: number;
  readonly drBaselineKw: number;
  readonly drRequestedReductionKw: number;
  readonly drAchievedReductionKw: number;
  /** Achieved / requested reduction of mean site load in the DR window (1 = fully delivered). */
  readonly drCompliance: number;
  /** Share of the DR window with site load at or under baseline x (1 - curtailment). */
  readonly drTimeCompliant: number;
  readonly commands: number;
  readonly sessionHours: number;
  readonly commandsPerChargerHour: number;
}

export function jainIndex(values: readonly number[]): number {
  if (values.length === 0) return 1;
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

export class SiteMeter {
  private overshootKwh = 0;
  private worstOvershootKw = 0;
  private overshootSeconds = 0;
  private afterDelaySeconds = 0;
  private afterDelayKwh = 0;
  private peakKw = 0;
  private nearLimitSeconds = 0;
  private energyKwh = 0;
  private strandedKwh = 0;
  private evCostUsd = 0;
  private drLoadKwh = 0;
  private drEvKwh = 0;
  private drSeconds = 0;
  private drLoads: number[] = [];
  private readonly quarterKwh = new Float64Array(96);
  /** Mean site load per step, kW (the chart). */
  readonly stepLoadKw: Float32Array;
  private stepKwh = 0;
  private stepOvershoot = false;
  private overshootSteps = 0;
  private overshootStepsAfterRise = 0;

  constructor(
    private readonly site: SiteSpec,
    readonly policy: Policy,
    private readonly maxCommandDelayS: number,
    steps: number,
  ) {
    this.stepLoadKw = new Float32Array(steps);
  }

  /** One simulated second. `secondInStep` counts from the step boundary where loads change. */
  second(atS: number, secondInStep: number, buildingKw: number, evKw: number, usdKwh: number, strandedKw = 0): void {
    this.strandedKwh += strandedKw / 3600;
    const load = buildingKw + evKw;
    const over = load - this.site.demandLimitKw;
    if (over > EPS_KW) {
      this.stepOvershoot = true;
      this.overshootKwh += over / 3600;
      this.overshootSeconds += 1;
      this.worstOvershootKw = Math.max(this.worstOvershootKw, over);
      const evCaused = Math.min(over, evKw);
      if (secondInStep >= this.maxCommandDelayS && evCaused > EPS_KW) {
        this.afterDelaySeconds += 1;
        this.afterDelayKwh += evCaused / 3600;
      }
    }
    this.peakKw = Math.max(this.peakKw, load);
    if (load >= this.site.demandLimitKw * 0.98) this.nearLimitSeconds += 1;
    this.energyKwh += evKw / 3600;
    this.evCostUsd += (evKw / 3600) * usdKwh;
    this.stepKwh += load / 3600;
    const quarter = Math.floor(atS / 900);
    this.quarterKwh[quarter] = (this.quarterKwh[quarter] ?? 0) + load / 3600;
    const dr = this.site.dr;
    if (dr.startS <= atS && atS < dr.endS) {
      this.drLoadKwh += load / 3600;
      this.drEvKwh += evKw / 3600;
      this.drSeconds += 1;
      this.drLoads.push(load);
    }
  }

  /** `buildingRoseKw`: how much the building load rose at this step's start. */
  endStep(step: number, stepS: number, buildingRoseKw: number): void {
    this.stepLoadKw[step] = (this.stepKwh * 3600) / stepS;
    this.stepKwh = 0;
    if (this.stepOvershoot) {
      this.overshootSteps += 1;
      if (buildingRoseKw > 0) this.overshootStepsAfterRise += 1;
    }
    this.stepOvershoot = false;
  }

  /** The DR window's mean site load, kW. */
  drWindowMeanKw(): number {
    return this.drSeconds === 0 ? 0 : (this.drLoadKwh * 3600) / this.drSeconds;
  }

  /** The DR window's mean EV load, kW. */
  drWindowEvMeanKw(): number {
    return this.drSeconds === 0 ? 0 : (this.drEvKwh * 3600) / this.drSeconds;
  }

  finish(vehicles: readonly Vehicle[], commands: number, dayEndS: number): SiteMetrics {
    const evaluated = vehicles.filter((v) => v.spec.departureS !== null && v.spec.requestedKwh > 0);
    const servedRatios = evaluated.map((v) => Math.min(1, v.deliveredKwh / v.spec.requestedKwh));
    const met = evaluated.filter((v) => v.deliveredKwh >= v.spec.requestedKwh - MET_TOLERANCE_KWH).length;
    const sessionHours = vehicles.reduce((sum, v) => sum + ((v.endedAtS ?? dayEndS) - v.spec.arrivalS) / 3600, 0);
    const dr = this.site.dr;
    const drTargetKw = dr.baselineKw * (1 - dr.curtailmentPct / 100);
    const requested = (dr.baselineKw * dr.curtailmentPct) / 100;
    const achieved = dr.baselineKw - this.drWindowMeanKw();
    const compliant = this.drLoads.filter((load) => load <= drTargetKw + EPS_KW).length;
    return {
      siteId: this.site.id,
      policy: this.policy,
      overshootKwh: this.overshootKwh,
      worstOvershootKw: this.worstOvershootKw,
      overshootSeconds: this.overshootSeconds,
      overshootSecondsAfterDelay: this.afterDelaySeconds,
      overshootKwhAfterDelay: this.afterDelayKwh,
      overshootSteps: this.overshootSteps,
      overshootStepsAfterBuildingRise: this.overshootStepsAfterRise,
      secondsNearLimit: this.nearLimitSeconds,
      peakSiteKw: this.peakKw,
      peak15MinKw: Math.max(...Array.from(this.quarterKwh, (kwh) => kwh * 4)),
      energyKwh: this.energyKwh,
      strandedKwh: this.strandedKwh,
      requestedKwh: vehicles.reduce((sum, v) => sum + v.spec.requestedKwh, 0),
      sessions: vehicles.length,
      sessionsEvaluated: evaluated.length,
      metShare: evaluated.length === 0 ? 1 : met / evaluated.length,
      servedRatios,
      jain: jainIndex(servedRatios),
      evCostUsd: this.evCostUsd,
      drBaselineKw: dr.baselineKw,
      drRequestedReductionKw: requested,
      drAchievedReductionKw: achieved,
      drCompliance: requested > 0 ? achieved / requested : 1,
      drTimeCompliant: this.drLoads.length === 0 ? 1 : compliant / this.drLoads.length,
      commands,
      sessionHours,
      commandsPerChargerHour: sessionHours > 0 ? commands / sessionHours : 0,
    };
  }
}

/** One policy over all sites. */
export interface PolicySummary {
  readonly policy: Policy;
  readonly overshootKwh: number;
  readonly worstOvershootKw: number;
  readonly overshootSecondsAfterDelay: number;
  readonly energyKwh: number;
  readonly strandedKwh: number;
  readonly requestedKwh: number;
  readonly metShare: number;
  readonly jain: number;
  readonly evCostUsd: number;
  readonly usdPerKwh: number;
  readonly drCompliance: number;
  readonly drTimeCompliant: number;
  readonly commandsPerChargerHour: number;
}

export function summarize(policy: Policy, sites: readonly SiteMetrics[]): PolicySummary {
  const sum = (f: (m: SiteMetrics) => number) => sites.reduce((acc, m) => acc + f(m), 0);
  const ratios = sites.flatMap((m) => [...m.servedRatios]);
  const evaluated = sum((m) => m.sessionsEvaluated);
  const energy = sum((m) => m.energyKwh);
  const hours = sum((m) => m.sessionHours);
  const drRequested = sum((m) => m.drRequestedReductionKw);
  return {
    policy,
    overshootKwh: sum((m) => m.overshootKwh),
    worstOvershootKw: Math.max(0, ...sites.map((m) => m.worstOvershootKw)),
    overshootSecondsAfterDelay: sum((m) => m.overshootSecondsAfterDelay),
    energyKwh: energy,
    strandedKwh: sum((m) => m.strandedKwh),
    requestedKwh: sum((m) => m.requestedKwh),
    metShare: evaluated === 0 ? 1 : sum((m) => m.metShare * m.sessionsEvaluated) / evaluated,
    jain: jainIndex(ratios),
    evCostUsd: sum((m) => m.evCostUsd),
    usdPerKwh: energy > 0 ? sum((m) => m.evCostUsd) / energy : 0,
    drCompliance: drRequested > 0 ? sum((m) => m.drAchievedReductionKw) / drRequested : 1,
    drTimeCompliant: sites.length === 0 ? 1 : sum((m) => m.drTimeCompliant) / sites.length,
    commandsPerChargerHour: hours > 0 ? sum((m) => m.commands) / hours : 0,
  };
}
