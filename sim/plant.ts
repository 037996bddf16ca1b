// One site under one policy: its vehicles on their chargers, the building, and the meter. Each
// step: vehicles leave and arrive, the site is measured, the controller commands, time advances
// second by second while the CPMS applies the commands after their delay.
import { type Policy, SiteMeter, type SiteMetrics } from "./metrics.js";
import { DAY_S } from "./model/clock.js";
import { Vehicle } from "./model/physics.js";
import type { Rng } from "./model/random.js";
import type { SiteSpec } from "./model/scenario.js";
import { priceAt } from "./model/tariff.js";

export interface PlantOptions {
  readonly policy: Policy;
  readonly stepS: number;
  /** The charger's limit before its first command; null: none (rated power). */
  readonly initialLimitKw: number | null;
  /** How long the CPMS takes to apply a command on a charger, seconds (uniform). */
  readonly commandDelayS: readonly [number, number];
  /** Clock-aligned meter values every this many seconds (OCPP ClockAlignedDataInterval), and at session start. */
  readonly sampleIntervalS: number;
  readonly delayRng: Rng;
}

/** What a plant's devices report at a step boundary (this site plant's and the trace replay's); V: its vehicles. */
export interface PlantStepReport<V> {
  readonly step: number;
  readonly atS: number;
  /** Vehicles whose session ended now (departed, or full). */
  readonly ended: readonly V[];
  readonly arrived: readonly V[];
  /** Vehicles plugged in and charging (session active). */
  readonly active: readonly V[];
  readonly buildingKw: number;
  /** EV load at the step boundary, kW. */
  readonly evLoadKw: number;
}

/** What the site's devices report at a step boundary. */
export interface StepReport extends PlantStepReport<Vehicle> {
  /** Sessions whose charger sends meter values now: all on the aligned interval, new ones at once. */
  readonly sampled: readonly Vehicle[];
  readonly demandLimitKw: number;
}

export class SitePlant {
  readonly vehicles: Vehicle[] = [];
  readonly meter: SiteMeter;
  private readonly bySession = new Map<string, Vehicle>();
  private nextArrival = 0;
  private commandsIssued = 0;

  constructor(
    readonly site: SiteSpec,
    readonly options: PlantOptions,
  ) {
    this.meter = new SiteMeter(site, options.policy, options.commandDelayS[1], DAY_S / options.stepS);
  }

  get policy(): Policy {
    return this.options.policy;
  }

  active(): Vehicle[] {
    return this.vehicles.filter((v) => !v.ended);
  }

  beginStep(step: number): StepReport {
    const atS = step * this.options.stepS;
    const ended: Vehicle[] = [];
    for (const v of this.active()) {
      if (v.spec.departureS !== null && atS >= v.spec.departureS) v.end(atS, "DEPARTED");
      else if (v.full) v.end(atS, "FULL");
      if (v.ended) ended.push(v);
    }
    const arrived: Vehicle[] = [];
    const fleet = this.site.fleet;
    while (this.nextArrival < fleet.length && (fleet[this.nextArrival]?.arrivalS ?? DAY_S) <= atS) {
      const spec = fleet[this.nextArrival++];
      if (!spec) break;
      const vehicle = new Vehicle(spec, this.options.initialLimitKw);
      this.vehicles.push(vehicle);
      this.bySession.set(spec.sessionId, vehicle);
      arrived.push(vehicle);
    }
    const active = this.active();
    const interval = this.options.sampleIntervalS;
    return {
      step,
      atS,
      ended,
      arrived,
      active,
      sampled: atS % interval === 0 ? active : arrived,
      buildingKw: this.site.buildingKw[step] ?? 0,
      evLoadKw: active.reduce((sum, v) => sum + v.drawKw(), 0),
      demandLimitKw: this.site.demandLimitKw,
    };
  }

  /** A setpoint command for a session, issued at `issuedAtS`: applied after the CPMS delay. */
  command(sessionId: string, kw: number, issuedAtS: number): void {
    const vehicle = this.bySession.get(sessionId);
    if (!vehicle || vehicle.ended) return;
    this.commandsIssued += 1;
    const [min, max] = this.options.commandDelayS;
    vehicle.enqueue(kw, issuedAtS + this.options.delayRng.uniform(min, max));
  }

  /** Simulates the step's seconds. */
  advance(step: number): void {
    const stepS = this.options.stepS;
    const atS = step * stepS;
    const buildingKw = this.site.buildingKw[step] ?? 0;
    const usdKwh = priceAt(this.site.tariff, atS).usdKwh;
    const active = this.active();
    for (let second = 0; second < stepS; second += 1) {
      let evKw = 0;
      // Allowed but not drawn (tapering or full vehicles), while another vehicle is held back.
      let unusedKw = 0;
      let heldBack = false;
      for (const v of active) {
        v.applyDue(atS + second);
        const want = v.wantKw();
        const limit = v.limitKw ?? v.spec.ratedKw;
        if (limit < want - 0.01) heldBack = true;
        unusedKw += Math.max(0, Math.min(limit, v.spec.ratedKw) - Math.min(limit, want));
        evKw += v.charge(1) * 3600;
      }
      this.meter.second(atS + second, second, buildingKw, evKw, usdKwh, heldBack ? unusedKw : 0);
    }
    this.meter.endStep(step, stepS, buildingKw - (this.site.buildingKw[step - 1] ?? buildingKw));
  }

  finish(): SiteMetrics {
    return this.meter.finish(this.vehicles, this.commandsIssued, DAY_S);
  }
}
