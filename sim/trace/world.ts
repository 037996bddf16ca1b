// The world a trace replay runs in: one site, its sessions on a grid of control steps, the
// tariff per step, and what controllers are told about each session. Every policy, the
// reference schedulers and the offline optimum see exactly this world.
import { DAY_S, type SimTime } from "../model/clock.js";
import type { SiteSpec } from "../model/scenario.js";
import { type PriceInterval, type PriceTier, priceAt, TOU_SCHEDULE } from "../model/tariff.js";
import type { TraceSession } from "./csv.js";

/** What the controllers learn about a session: nothing, its departure, or departure and energy. */
export type Inform = "none" | "departure" | "departure+energy";
export const INFORM_MODES: readonly Inform[] = ["none", "departure", "departure+energy"];
/** ideal: the vehicle draws min(limit, max_kw) until its energy is in; curve: it tapers above 80 % SoC. */
export type BatteryMode = "ideal" | "curve";

export interface WorldSession {
  readonly index: number;
  readonly id: string;
  readonly stationId: string;
  /** Plugged in for steps [arrivalStep, departureStep): arrival rounded up, departure down. */
  readonly arrivalStep: number;
  readonly departureStep: number;
  readonly energyKwh: number;
  readonly maxKw: number;
  /** Told to controllers (null: not told): the requested value if recorded, else the recorded one. */
  readonly informedDepartureStep: number | null;
  readonly informedEnergyKwh: number | null;
  /** Curve mode: a battery that this energy takes from arrivalSocPct to 90 %. */
  readonly batteryKwh: number;
  readonly arrivalSocPct: number;
}

export interface TraceWorld {
  /** 00:00 UTC of the first arrival's day, epoch ms: step k starts at startMs + k * stepS s. */
  readonly startMs: number;
  readonly stepS: number;
  readonly steps: number;
  readonly sessions: readonly WorldSession[];
  readonly buildingKw: Float64Array;
  readonly usdKwh: Float64Array;
  readonly tiers: readonly PriceTier[];
  /** The tariff as intervals (the day-ahead TOU schedule repeated daily, UTC). */
  readonly tariff: readonly { tier: PriceTier; usdKwh: number; fromMs: number; toMs: number }[];
  readonly inform: Inform;
  readonly battery: BatteryMode;
}

export interface WorldOptions {
  readonly stepS: number;
  readonly inform?: Inform;
  readonly battery?: BatteryMode;
  /** Keep sessions arriving in [fromMs, toMs). */
  readonly fromMs?: number;
  readonly toMs?: number;
  /** Constant building load, kW (default none). */
  readonly buildingKw?: number;
  readonly schedule?: readonly PriceInterval[];
}

export function buildWorld(all: readonly TraceSession[], options: WorldOptions): TraceWorld {
  const { stepS } = options;
  if (!Number.isInteger(stepS) || stepS <= 0 || DAY_S % stepS !== 0)
    throw new Error(`--step ${stepS} must be a whole number of seconds that divides a day`);
  const fromMs = options.fromMs ?? Number.NEGATIVE_INFINITY;
  const toMs = options.toMs ?? Number.POSITIVE_INFINITY;
  const kept = all.filter((s) => s.arrivalMs >= fromMs && s.arrivalMs < toMs);
  if (kept.length === 0) throw new Error("no session arrives in the period chosen (--from/--to)");
  const first = Math.min(...kept.map((s) => s.arrivalMs));
  const last = Math.max(...kept.map((s) => Math.max(s.departureMs, s.requestedDepartureMs ?? 0)));
  const startMs = Math.floor(first / (DAY_S * 1000)) * DAY_S * 1000;
  const steps = Math.ceil((last - startMs) / (stepS * 1000)) + 1;
  const inform = options.inform ?? "departure+energy";
  const stepUp = (ms: number) => Math.ceil((ms - startMs) / (stepS * 1000));
  const stepDown = (ms: number) => Math.floor((ms - startMs) / (stepS * 1000));
  const sessions = kept.map((s, index): WorldSession => {
    const batteryKwh = Math.max(40, s.energyKwh / 0.7);
    return {
      index,
      id: s.sessionId,
      stationId: s.stationId,
      arrivalStep: stepUp(s.arrivalMs),
      departureStep: Math.max(stepUp(s.arrivalMs), stepDown(s.departureMs)),
      energyKwh: s.energyKwh,
      maxKw: s.maxKw,
      informedDepartureStep: inform === "none" ? null : stepDown(s.requestedDepartureMs ?? s.departureMs),
      informedEnergyKwh: inform === "departure+energy" ? (s.requestedEnergyKwh ?? s.energyKwh) : null,
      batteryKwh,
      arrivalSocPct: 90 - (100 * s.energyKwh) / batteryKwh,
    };
  });
  const schedule = options.schedule ?? TOU_SCHEDULE;
  const usdKwh = new Float64Array(steps);
  const tiers: PriceTier[] = [];
  for (let k = 0; k < steps; k += 1) {
    const price = priceAt(schedule, (k * stepS) % DAY_S);
    usdKwh[k] = price.usdKwh;
    tiers.push(price.tier);
  }
  const days = Math.ceil((steps * stepS) / DAY_S);
  const tariff = Array.from({ length: days }, (_, d) =>
    schedule.map((p) => ({
      tier: p.tier,
      usdKwh: p.usdKwh,
      fromMs: startMs + (d * DAY_S + p.fromS) * 1000,
      toMs: startMs + (d * DAY_S + p.toS) * 1000,
    })),
  ).flat();
  return {
    startMs,
    stepS,
    steps,
    sessions,
    buildingKw: new Float64Array(steps).fill(options.buildingKw ?? 0),
    usdKwh,
    tiers,
    tariff,
    inform,
    battery: options.battery ?? "ideal",
  };
}

export function totalEnergyKwh(world: TraceWorld): number {
  return world.sessions.reduce((sum, s) => sum + s.energyKwh, 0);
}

/**
 * A generated site's day as a trace world (for the offline optimum): its fleet on the same step
 * grid, its building load, the TOU tariff; a vehicle staying past midnight is plugged in until
 * the end of the day. The DR event and the taper are left out, so the optimum on it is an upper
 * bound for the day's policies.
 */
export function worldFromSite(site: SiteSpec, time: SimTime): TraceWorld {
  const { stepS, steps } = time;
  const sessions = site.fleet.map(
    (v, index): WorldSession => ({
      index,
      id: v.sessionId,
      stationId: v.chargePointId,
      arrivalStep: v.arrivalS / stepS,
      departureStep: v.departureS === null ? steps : v.departureS / stepS,
      energyKwh: v.requestedKwh,
      maxKw: v.ratedKw,
      informedDepartureStep: v.departureS === null ? null : v.departureS / stepS,
      informedEnergyKwh: v.requestedKwh,
      batteryKwh: v.batteryKwh,
      arrivalSocPct: v.arrivalSocPct,
    }),
  );
  const usdKwh = new Float64Array(steps);
  const tiers: PriceTier[] = [];
  for (let k = 0; k < steps; k += 1) {
    const price = priceAt(site.tariff, k * stepS);
    usdKwh[k] = price.usdKwh;
    tiers.push(price.tier);
  }
  return {
    startMs: time.dayStartMs,
    stepS,
    steps,
    sessions,
    buildingKw: Float64Array.from(site.buildingKw),
    usdKwh,
    tiers,
    tariff: site.tariff.map((p) => ({
      tier: p.tier,
      usdKwh: p.usdKwh,
      fromMs: time.dayStartMs + p.fromS * 1000,
      toMs: time.dayStartMs + p.toS * 1000,
    })),
    inform: "departure+energy",
    battery: "curve",
  };
}
