// A vehicle on a charger: the charging curve, the charger's applied limit and the commands
// waiting to be applied (the CPMS needs a few seconds per SetChargingProfile).
import type { EvSpec } from "./fleet.js";

/** Above this state of charge the battery management tapers the power. */
const TAPER_FROM_SOC = 80;
/** What is left of the rated power at 100 %. */
const TAPER_FLOOR = 0.08;

/** The most the vehicle will take at this state of charge, kW. */
export function maxChargeKw(ratedKw: number, socPct: number): number {
  if (socPct <= TAPER_FROM_SOC) return ratedKw;
  const f = 1 - ((1 - TAPER_FLOOR) * (socPct - TAPER_FROM_SOC)) / (100 - TAPER_FROM_SOC);
  return ratedKw * Math.max(TAPER_FLOOR, f);
}

export type EndReason = "DEPARTED" | "FULL";

interface PendingCommand {
  readonly applyAtS: number;
  readonly kw: number;
}

export class Vehicle {
  socPct: number;
  deliveredKwh = 0;
  /** The charger's applied limit, kW; null: none (the vehicle takes what it can). */
  limitKw: number | null;
  endedAtS: number | null = null;
  endReason: EndReason | null = null;
  /** Commands applied to the charger. */
  commandsApplied = 0;
  private readonly pending: PendingCommand[] = [];
  private lastApplyAtS = Number.NEGATIVE_INFINITY;

  constructor(
    readonly spec: EvSpec,
    initialLimitKw: number | null,
  ) {
    this.socPct = spec.arrivalSocPct;
    this.limitKw = initialLimitKw;
  }

  get ended(): boolean {
    return this.endedAtS !== null;
  }

  get full(): boolean {
    return this.deliveredKwh >= this.spec.requestedKwh - 1e-6;
  }

  /** What the vehicle would take now with no charger limit, kW. */
  wantKw(): number {
    if (this.ended || this.full) return 0;
    return maxChargeKw(this.spec.ratedKw, this.socPct);
  }

  /** Power drawn now, kW: the charger limit, the charging curve, and nothing once it has had enough. */
  drawKw(): number {
    if (this.ended || this.full) return 0;
    const limit = this.limitKw ?? this.spec.ratedKw;
    return Math.max(0, Math.min(limit, maxChargeKw(this.spec.ratedKw, this.socPct)));
  }

  /** A command the CPMS will apply at `applyAtS`; a charger applies its commands in order. */
  enqueue(kw: number, applyAtS: number): void {
    const at = Math.max(applyAtS, this.lastApplyAtS);
    this.lastApplyAtS = at;
    this.pending.push({ applyAtS: at, kw });
  }

  /** Applies the commands due by `seconds`. */
  applyDue(seconds: number): void {
    while (this.pending.length > 0 && (this.pending[0]?.applyAtS ?? Number.POSITIVE_INFINITY) <= seconds) {
      const command = this.pending.shift();
      if (command) {
        this.limitKw = command.kw;
        this.commandsApplied += 1;
      }
    }
  }

  /** Charges for `dtS` seconds at the current draw; returns the energy, kWh. */
  charge(dtS: number): number {
    const kw = this.drawKw();
    if (kw <= 0) return 0;
    const energy = Math.min((kw * dtS) / 3600, this.spec.requestedKwh - this.deliveredKwh);
    this.deliveredKwh += energy;
    this.socPct = Math.min(100, this.socPct + (energy / this.spec.batteryKwh) * 100);
    return energy;
  }

  end(atS: number, reason: EndReason): void {
    this.endedAtS = atS;
    this.endReason = reason;
    this.pending.length = 0;
  }
}
