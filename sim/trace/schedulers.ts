// Reference schedulers, computed by the simulator (not product code): the yardsticks of the
// published ACN-Sim comparisons, under the same site limit and command delay as the service.
// Each step they see what a CPMS would: the sessions plugged in, their metered energy, whether
// the vehicle stopped drawing below its limit, and what they were told (departure, energy).
//
//   ROUND_ROBIN  equal shares with a minimum: each session gets min(3 kW, what it can take) while
//                the minimums fit (in an order that rotates every step, so no one is always
//                left out), the rest is divided max-min fairly
//   FCFS         sessions in order of arrival each get what they can take of what is left
//   EDF          the same, earliest (told) departure first; no departure: last, by arrival
//   LLF          the same, least laxity first: time to departure minus remaining energy at full
//                rate (energy not told: time to departure)
//   TUTORIAL     the tutorial's formula, defects included (sim/controllers/tutorial.ts)
//   UNCONTROLLED no limit at all
import { tutorialSetpointKw } from "../controllers/tutorial.js";
import type { TracePlant, TraceStepReport, TraceVehicle } from "./plant.js";

export const REFERENCE_POLICIES = ["UNCONTROLLED", "TUTORIAL", "ROUND_ROBIN", "FCFS", "EDF", "LLF"] as const;
export type ReferencePolicy = (typeof REFERENCE_POLICIES)[number];

const MIN_RATE_KW = 3;

/** What a scheduler may use about one plugged-in session. */
export interface SessionView {
  readonly index: number;
  readonly arrivalStep: number;
  readonly maxKw: number;
  readonly deliveredKwh: number;
  readonly departureStep: number | null;
  readonly energyKwh: number | null;
  /** It drew nothing for a whole step although its limit allowed it: the vehicle is done. */
  readonly stopped: boolean;
}

export function viewOf(v: TraceVehicle): SessionView {
  const s = v.session;
  return {
    index: s.index,
    arrivalStep: s.arrivalStep,
    maxKw: s.maxKw,
    deliveredKwh: v.deliveredKwh,
    departureStep: s.informedDepartureStep,
    energyKwh: s.informedEnergyKwh,
    stopped: v.suspended,
  };
}

/** The most a session can usefully take this step, kW. */
export function upperKw(s: SessionView, stepS: number): number {
  if (s.stopped) return 0;
  if (s.energyKwh === null) return s.maxKw;
  const remaining = s.energyKwh - s.deliveredKwh;
  // Told less than the vehicle still takes: it keeps its full rate (the told energy only ranks).
  return remaining > 1e-6 ? Math.min(s.maxKw, (remaining * 3600) / stepS) : s.maxKw;
}

/** Gives each session, in order, what it can take of what is left. */
export function sortedAllocation(
  sessions: readonly SessionView[],
  capacityKw: number,
  stepS: number,
): Map<number, number> {
  const out = new Map<number, number>();
  let left = Math.max(0, capacityKw);
  for (const s of sessions) {
    const kw = Math.min(upperKw(s, stepS), left);
    out.set(s.index, kw);
    left -= kw;
  }
  return out;
}

/** Max-min fair: the level L with sum(clamp(L, lo, hi)) = amount (or everyone at hi). */
export function waterFill(lo: readonly number[], hi: readonly number[], amount: number): number[] {
  const clamp = (level: number) => lo.map((l, i) => Math.min(hi[i] ?? 0, Math.max(l, level)));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  if (sum(clamp(Number.POSITIVE_INFINITY)) <= amount) return clamp(Number.POSITIVE_INFINITY);
  let low = 0;
  let high = Math.max(0, ...hi);
  for (let k = 0; k < 60; k += 1) {
    const mid = (low + high) / 2;
    if (sum(clamp(mid)) > amount) high = mid;
    else low = mid;
  }
  return clamp(low);
}

const byArrival = (a: SessionView, b: SessionView) => a.arrivalStep - b.arrivalStep || a.index - b.index;

export function roundRobin(sessions: readonly SessionView[], capacityKw: number, stepS: number, step: number) {
  const ordered = [...sessions].sort(byArrival);
  const n = ordered.length;
  const rotated = n === 0 ? [] : ordered.map((_, k) => ordered[(k + step) % n] as SessionView);
  const admitted: SessionView[] = [];
  const lo: number[] = [];
  const hi: number[] = [];
  let minimums = 0;
  const out = new Map<number, number>();
  for (const s of rotated) {
    const upper = upperKw(s, stepS);
    const min = Math.min(MIN_RATE_KW, upper);
    if (upper <= 0 || minimums + min > capacityKw) {
      out.set(s.index, 0);
      continue;
    }
    minimums += min;
    admitted.push(s);
    lo.push(min);
    hi.push(upper);
  }
  const shares = waterFill(lo, hi, Math.max(0, capacityKw));
  for (const [k, s] of admitted.entries()) out.set(s.index, shares[k] ?? 0);
  return out;
}

export function laxityH(s: SessionView, step: number, stepS: number): number {
  if (s.departureStep === null) return Number.POSITIVE_INFINITY;
  const leftH = ((s.departureStep - step) * stepS) / 3600;
  if (s.energyKwh === null) return leftH;
  return leftH - Math.max(0, s.energyKwh - s.deliveredKwh) / s.maxKw;
}

/** The setpoints of a reference policy for this step, kW per session index. */
export function referenceSetpoints(
  policy: Exclude<ReferencePolicy, "UNCONTROLLED">,
  report: TraceStepReport,
  capacityKw: number,
  stepS: number,
): Map<number, number> {
  const views = report.active.map((v) => viewOf(v));
  const evCapKw = Math.max(0, capacityKw - report.buildingKw);
  const departure = (s: SessionView) => s.departureStep ?? Number.POSITIVE_INFINITY;
  switch (policy) {
    case "TUTORIAL": {
      const demandKw = report.buildingKw + report.evLoadKw;
      const out = new Map<number, number>();
      for (const s of views) out.set(s.index, tutorialSetpointKw(capacityKw, demandKw, views.length, s.maxKw));
      return out;
    }
    case "ROUND_ROBIN":
      return roundRobin(views, evCapKw, stepS, report.step);
    case "FCFS":
      return sortedAllocation([...views].sort(byArrival), evCapKw, stepS);
    case "EDF":
      return sortedAllocation(
        [...views].sort((a, b) => departure(a) - departure(b) || byArrival(a, b)),
        evCapKw,
        stepS,
      );
    case "LLF":
      return sortedAllocation(
        [...views].sort((a, b) => laxityH(a, report.step, stepS) - laxityH(b, report.step, stepS) || byArrival(a, b)),
        evCapKw,
        stepS,
      );
  }
}

/** Runs a reference policy on its plant for the whole world. */
export function runReference(plant: TracePlant, policy: ReferencePolicy, onDay?: (day: number) => void): void {
  const { steps, stepS } = plant.world;
  const last = new Map<number, number>();
  const stepsPerDay = 86_400 / stepS;
  for (let step = 0; step < steps; step += 1) {
    const report = plant.beginStep(step);
    for (const v of report.ended) last.delete(v.session.index);
    if (policy !== "UNCONTROLLED") {
      const setpoints = referenceSetpoints(policy, report, plant.capacityKw, stepS);
      for (const [index, kw] of setpoints) {
        const rounded = Math.floor(kw * 100) / 100;
        const previous = last.get(index);
        // A command whenever the (0.01-kW) setpoint changes: no deadband, so no held-back decrease.
        if (previous === rounded) continue;
        last.set(index, rounded);
        plant.command(index, rounded, report.atS);
      }
    }
    plant.advance(step);
    if ((step + 1) % stepsPerDay === 0) onDay?.((step + 1) / stepsPerDay);
  }
}
