// The simulated day: sites with their building, demand limit, fleet, tariff and DR event, all
// drawn from one seed so that every policy runs against exactly the same world.
import { buildingProfile, type SiteKind } from "./building.js";
import { type SimTime, simTime } from "./clock.js";
import { type EvSpec, generateFleet } from "./fleet.js";
import { Rng } from "./random.js";
import { afternoonDrEvent, type DemandResponseEvent, type PriceInterval, TOU_SCHEDULE } from "./tariff.js";

export interface SiteSpec {
  readonly id: string;
  readonly kind: SiteKind;
  readonly demandLimitKw: number;
  readonly buildingPeakKw: number;
  /** Building load per step, kW. */
  readonly buildingKw: Float64Array;
  readonly fleet: readonly EvSpec[];
  readonly tariff: readonly PriceInterval[];
  readonly dr: DemandResponseEvent;
}

export interface Scenario {
  readonly seed: number;
  readonly time: SimTime;
  readonly sites: readonly SiteSpec[];
}

export interface ScenarioOptions {
  readonly seed: number;
  readonly siteCount: number;
  readonly dayStartMs: number;
  readonly stepS: number;
  /** Vehicles per site are scaled by this (quick runs use fewer). */
  readonly fleetScale: number;
}

/**
 * Per kind: building peak, the grid capacity left for charging above that peak (the demand limit
 * is their sum) and the vehicles of a typical site. Uncontrolled, the fleet overshoots the limit.
 */
const ARCHETYPES: Record<SiteKind, { peakKw: number; evHeadroomKw: number; evs: number }> = {
  office: { peakKw: 120, evHeadroomKw: 110, evs: 22 },
  depot: { peakKw: 80, evHeadroomKw: 60, evs: 24 },
  retail: { peakKw: 150, evHeadroomKw: 120, evs: 24 },
};
const KINDS: readonly SiteKind[] = ["office", "depot", "retail"];

export function buildScenario(options: ScenarioOptions): Scenario {
  const time = simTime(options.dayStartMs, options.stepS);
  const sites = Array.from({ length: options.siteCount }, (_, i): SiteSpec => {
    const id = `site-${i + 1}`;
    const kind = KINDS[i % KINDS.length] ?? "office";
    const rng = Rng.derive(options.seed, id);
    const archetype = ARCHETYPES[kind];
    // The first site of each kind is the archetype; later ones vary in size.
    const size = i < KINDS.length ? 1 : rng.uniform(0.7, 1.5);
    const buildingPeakKw = Math.round(archetype.peakKw * size);
    const evs = Math.max(4, Math.round(archetype.evs * size * options.fleetScale));
    return {
      id,
      kind,
      demandLimitKw: Math.round((size * (archetype.peakKw + archetype.evHeadroomKw * options.fleetScale)) / 5) * 5,
      buildingPeakKw,
      buildingKw: buildingProfile(kind, buildingPeakKw, time.stepS, Rng.derive(options.seed, `${id}/building`)),
      fleet: generateFleet(
        kind,
        evs,
        time.stepS,
        Rng.derive(options.seed, `${id}/fleet`),
        Rng.derive(options.seed, `${id}/bids`),
      ),
      tariff: TOU_SCHEDULE,
      dr: afternoonDrEvent(id),
    };
  });
  return { seed: options.seed, time, sites };
}
