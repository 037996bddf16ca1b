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

/**
 * The commands waiting on a charger: the CPMS applies them in order, so a command is never applied
 * before the one sent ahead of it.
 */
export class CommandQueue {
  /** In the order they will be applied; `atS` never decreases. */
  readonly pending: { readonly atS: number; readonly kw: number }[] = [];
  private lastAtS = Number.NEGATIVE_INFINITY;

  /** A command the CPMS will apply at `atS`, or when the one before it is applied if that is later. */
  push(kw: number, atS: number): void {
    const at = Math.max(atS, this.lastAtS);
    this.lastAtS = at;
    this.pending.push({ atS: at, kw });
  }

  /** Takes the commands due by `atS`, in order; returns their kW. */
  takeDue(atS: number): number[] {
    const due: number[] = [];
    while (this.pending.length > 0 && (this.pending[0]?.atS ?? Number.POSITIVE_INFINITY) <= atS) {
      const command = this.pending.shift();
      if (command) due.push(command.kw);
    }
    return due;
  }

  /** Drops the waiting commands (the session ended). */
  clear(): void {
    this.pending.length = 0;
  }
}

/**
 * What every simulated vehicle on a charger has (the site plant's Vehicle, the trace replay's
 * TraceVehicle): its state of charge and energy so far, the charger's applied limit, and the
 * commands the CPMS has yet to apply.
 */
export class PluggedVehicle {
  socPct: number;
  deliveredKwh = 0;
  /** The charger's applied limit, kW; null: none (the vehicle takes what it can). */
  limitKw: number | null;
  readonly commands = new CommandQueue();

  constructor(arrivalSocPct: number, initialLimitKw: number | null) {
    this.socPct = arrivalSocPct;
    this.limitKw = initialLimitKw;
  }

  /** A command the CPMS will apply at `applyAtS`; a charger applies its commands in order. */
  enqueue(kw: number, applyAtS: number): void {
    this.commands.push(kw, applyAtS);
  }

  /** Applies the commands due by `atS` (the last one's limit holds); returns how many. */
  applyDue(atS: number): number {
    const due = this.commands.takeDue(atS);
    for (const kw of due) this.limitKw = kw;
    return due.length;
  }
}

export class Vehicle extends PluggedVehicle {
  endedAtS: number | null = null;
  endReason: EndReason | null = null;
  /** Commands applied to the charger. */
  commandsApplied = 0;

  constructor(
    readonly spec: EvSpec,
    initialLimitKw: number | null,
  ) {
    super(spec.arrivalSocPct, initialLimitKw);
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

  override applyDue(seconds: number): number {
    const applied = super.applyDue(seconds);
    this.commandsApplied += applied;
    return applied;
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
    this.commands.clear();
  }
}
