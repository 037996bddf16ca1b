// One site of a trace replay under one policy and one capacity: the recorded vehicles on their
// chargers and the meter. Time moves a step at a time; inside a step the physics is exact
// between the instants a command is applied (2-5 s after the step starts: the CPMS delay), and
// in curve mode in slices of at most 30 s so the taper is followed.
import { maxChargeKw, PluggedVehicle } from "../model/physics.js";
import type { Rng } from "../model/random.js";
import type { PlantStepReport } from "../plant.js";
import type { TraceWorld, WorldSession } from "./world.js";

/** A vehicle this close to its energy got it. */
export const SERVED_TOLERANCE_KWH = 0.1;
const EPS_KW = 0.01;
const QUARTER_S = 900;

export class TraceVehicle extends PluggedVehicle {
  /** Energy in the last simulated step, and the lowest limit in force during it. */
  lastStepKwh = 0;
  lastStepMinLimitKw = Number.POSITIVE_INFINITY;
  /** Seen by the charger: it drew nothing for a whole step its limit allowed (SuspendedEV); it stays so. */
  suspended = false;

  constructor(
    readonly session: WorldSession,
    initialLimitKw: number | null,
  ) {
    super(session.arrivalSocPct, initialLimitKw);
  }

  get full(): boolean {
    return this.deliveredKwh >= this.session.energyKwh - 1e-9;
  }

  /** What it draws now, kW. */
  drawKw(curve: boolean): number {
    if (this.full) return 0;
    const s = this.session;
    const physical = curve ? maxChargeKw(s.maxKw, this.socPct) : s.maxKw;
    return Math.max(0, Math.min(this.limitKw ?? s.maxKw, physical));
  }

  /** Charges for `seconds` at the current draw; returns kWh. */
  charge(seconds: number, curve: boolean): number {
    const kw = this.drawKw(curve);
    if (kw <= 0) return 0;
    const kwh = Math.min((kw * seconds) / 3600, this.session.energyKwh - this.deliveredKwh);
    this.deliveredKwh += kwh;
    this.socPct = Math.min(100, this.socPct + (100 * kwh) / this.session.batteryKwh);
    return kwh;
  }
}

export type TraceStepReport = PlantStepReport<TraceVehicle>;

export interface TraceMetrics {
  readonly policy: string;
  readonly capacityKw: number;
  readonly energyKwh: number;
  readonly requestedKwh: number;
  readonly sessions: number;
  readonly sessionsFullyServed: number;
  readonly peakKw: number;
  readonly peak15MinKw: number;
  readonly costUsd: number;
  /** Energy of site load over the limit, kWh; and of it, what the EVs caused later than the command delay after a step. */
  readonly overLimitKwh: number;
  readonly overLimitKwhAfterDelay: number;
  readonly commands: number;
  readonly chargerHours: number;
  /** Per session (world order), kWh. */
  readonly deliveredKwh: Float64Array;
}

export interface TracePlantOptions {
  readonly policy: string;
  readonly capacityKw: number;
  /** Chargers start at 0 kW until their first command (controlled) or without a limit. */
  readonly controlled: boolean;
  readonly commandDelayS: readonly [number, number];
  readonly delayRng: Rng;
}

export class TracePlant {
  readonly vehicles: TraceVehicle[];
  private active: TraceVehicle[] = [];
  private nextArrival = 0;
  private readonly byArrival: WorldSession[];
  private energyKwh = 0;
  private peakKw = 0;
  private costUsd = 0;
  private overKwh = 0;
  private overAfterDelayKwh = 0;
  private commands = 0;
  private readonly quarterKwh: Float64Array;
  private readonly curve: boolean;

  constructor(
    readonly world: TraceWorld,
    readonly options: TracePlantOptions,
  ) {
    this.curve = world.battery === "curve";
    this.vehicles = world.sessions.map((s) => new TraceVehicle(s, options.controlled ? 0 : null));
    this.byArrival = world.sessions
      .filter((s) => s.departureStep > s.arrivalStep)
      .sort((a, b) => a.arrivalStep - b.arrivalStep || a.index - b.index);
    this.quarterKwh = new Float64Array(Math.ceil((world.steps * world.stepS) / QUARTER_S) + 1);
  }

  get policy(): string {
    return this.options.policy;
  }

  get capacityKw(): number {
    return this.options.capacityKw;
  }

  beginStep(step: number): TraceStepReport {
    const atS = step * this.world.stepS;
    const ended: TraceVehicle[] = [];
    this.active = this.active.filter((v) => {
      if (v.session.departureStep > step) return true;
      ended.push(v);
      v.commands.clear();
      return false;
    });
    const arrived: TraceVehicle[] = [];
    while (this.nextArrival < this.byArrival.length && (this.byArrival[this.nextArrival]?.arrivalStep ?? 0) <= step) {
      const session = this.byArrival[this.nextArrival++];
      const vehicle = session && this.vehicles[session.index];
      if (!vehicle) continue;
      arrived.push(vehicle);
      this.active.push(vehicle);
    }
    return {
      step,
      atS,
      ended,
      arrived,
      active: this.active,
      buildingKw: this.world.buildingKw[step] ?? 0,
      evLoadKw: this.active.reduce((sum, v) => sum + v.drawKw(this.curve), 0),
    };
  }

  /** A setpoint for a session (world index), issued at `issuedAtS`: applied after the CPMS delay. */
  command(index: number, kw: number, issuedAtS: number): void {
    const vehicle = this.vehicles[index];
    if (!vehicle || vehicle.session.departureStep * this.world.stepS <= issuedAtS) return;
    this.commands += 1;
    const [min, max] = this.options.commandDelayS;
    vehicle.enqueue(kw, issuedAtS + this.options.delayRng.uniform(min, max));
  }

  /** Simulates the step. */
  advance(step: number): void {
    const { stepS } = this.world;
    const atS = step * stepS;
    const endS = atS + stepS;
    const buildingKw = this.world.buildingKw[step] ?? 0;
    const usdKwh = this.world.usdKwh[step] ?? 0;
    const limitKw = this.options.capacityKw;
    const maxDelayS = this.options.commandDelayS[1];
    for (const v of this.active) {
      v.lastStepKwh = 0;
      v.lastStepMinLimitKw = Number.POSITIVE_INFINITY;
    }
    // Breakpoints: command applications inside the step, quarter-hour boundaries, the delay's end.
    const cuts = new Set<number>([atS, endS, Math.min(endS, atS + maxDelayS)]);
    for (const v of this.active) for (const p of v.commands.pending) if (p.atS > atS && p.atS < endS) cuts.add(p.atS);
    for (let q = Math.ceil(atS / QUARTER_S) * QUARTER_S; q < endS; q += QUARTER_S) cuts.add(q);
    const times = [...cuts].sort((a, b) => a - b);
    for (let k = 0; k + 1 < times.length; k += 1) {
      const from = times[k] ?? atS;
      const to = times[k + 1] ?? endS;
      for (const v of this.active) {
        v.applyDue(from);
        v.lastStepMinLimitKw = Math.min(v.lastStepMinLimitKw, v.limitKw ?? Number.POSITIVE_INFINITY);
      }
      const slice = this.curve ? 30 : to - from;
      for (let t = from; t < to; t += slice) {
        const seconds = Math.min(slice, to - t);
        let nowKw = buildingKw;
        for (const v of this.active) nowKw += v.drawKw(this.curve);
        this.peakKw = Math.max(this.peakKw, nowKw);
        let kwh = 0;
        for (const v of this.active) {
          const e = v.charge(seconds, this.curve);
          v.lastStepKwh += e;
          kwh += e;
        }
        const evKw = (kwh * 3600) / seconds;
        const overKw = buildingKw + evKw - limitKw;
        if (overKw > EPS_KW) {
          this.overKwh += (overKw * seconds) / 3600;
          if (t - atS >= maxDelayS) this.overAfterDelayKwh += (Math.min(overKw, evKw) * seconds) / 3600;
        }
        this.energyKwh += kwh;
        this.costUsd += kwh * usdKwh;
        const q = Math.floor(t / QUARTER_S);
        this.quarterKwh[q] = (this.quarterKwh[q] ?? 0) + kwh + (buildingKw * seconds) / 3600;
      }
    }
    for (const v of this.active) {
      const allowedKwh = (Math.min(v.lastStepMinLimitKw, v.session.maxKw) * stepS) / 3600;
      if (allowedKwh > 0.01 && v.lastStepKwh < 1e-6) v.suspended = true;
    }
  }

  finish(): TraceMetrics {
    const served = this.vehicles.filter((v) => v.deliveredKwh >= v.session.energyKwh - SERVED_TOLERANCE_KWH).length;
    const chargerHours = this.world.sessions.reduce(
      (sum, s) => sum + ((s.departureStep - s.arrivalStep) * this.world.stepS) / 3600,
      0,
    );
    return {
      policy: this.policy,
      capacityKw: this.capacityKw,
      energyKwh: this.energyKwh,
      requestedKwh: this.world.sessions.reduce((sum, s) => sum + s.energyKwh, 0),
      sessions: this.vehicles.length,
      sessionsFullyServed: served,
      peakKw: this.peakKw,
      peak15MinKw: Math.max(0, ...Array.from(this.quarterKwh, (kwh) => (kwh * 3600) / QUARTER_S)),
      costUsd: this.costUsd,
      overLimitKwh: this.overKwh,
      overLimitKwhAfterDelay: this.overAfterDelayKwh,
      commands: this.commands,
      chargerHours,
      deliveredKwh: Float64Array.from(this.vehicles, (v) => v.deliveredKwh),
    };
  }
}
