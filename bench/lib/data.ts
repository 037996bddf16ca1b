// Synthetic fleets: sites of N sessions each, meter-value rounds in their natural order (every
// session of site 1, then site 2, ...), and one site demand sample per site whose limit binds.
import type { SessionSample, SiteDemand } from "../../src/ingest/validate.js";

/** Rated powers a session cycles through, one step per round: so a round moves most setpoints. */
export const RATED_KW = [7.4, 11, 22, 22] as const;

export function siteId(index: number, prefix = "site"): string {
  return `${prefix}-${String(index).padStart(6, "0")}`;
}

export function sessionId(site: string, index: number): string {
  return `${site}-s${String(index).padStart(3, "0")}`;
}

export interface Fleet {
  readonly prefix: string;
  readonly sites: number;
  readonly sessionsPerSite: number;
  /** Sessions start here; sample timestamps are start + round seconds. */
  readonly t0: Date;
}

/** The fleet of the scenarios: `sites` sites (1,000 by default) of 20 sessions from the bench epoch. */
export function benchFleet(sites = 1000): Fleet {
  return { prefix: "site", sites, sessionsPerSite: 20, t0: benchEpoch() };
}

export function ratedKw(session: number, round: number): number {
  return RATED_KW[(session + round) % RATED_KW.length] as number;
}

/**
 * The samples of one round for sites [from, to) (all sites by default), in natural order.
 * `ratedRound` takes the rated powers of another round (the same as the previous round: no setpoint
 * changes, only newer samples).
 */
export function roundSamples(
  fleet: Fleet,
  round: number,
  options: { from?: number; to?: number; ratedRound?: number } = {},
): SessionSample[] {
  const from = options.from ?? 0;
  const to = Math.min(options.to ?? fleet.sites, fleet.sites);
  const sampledTs = new Date(fleet.t0.getTime() + (round + 1) * 1000);
  const out: SessionSample[] = [];
  for (let s = from; s < to; s++) {
    const site = siteId(s, fleet.prefix);
    for (let j = 0; j < fleet.sessionsPerSite; j++) {
      const rated = ratedKw(j, options.ratedRound ?? round);
      out.push({
        sessionId: sessionId(site, j),
        chargePointId: `${site}-cp${String(j).padStart(3, "0")}`,
        connectorId: 1,
        siteId: site,
        idTag: `tag-${j}`,
        ratedPowerKw: rated,
        currentPowerKw: Math.round(rated * 60) / 100,
        socPct: (round * 7 + j) % 100,
        energyKwh: round * 0.5,
        sessionStartTs: fleet.t0,
        sampledTs,
        endedTs: null,
        departureTs: null,
        requestedEnergyKwh: null,
        evMaxKw: null,
        evMinKw: null,
        bidUsdKwh: null,
        priority: null,
        phases: null,
        phase: null,
        voltageV: null,
        transactionId: null,
      });
    }
  }
  return out;
}

/** Building load in every site demand sample. */
export const BUILDING_KW = 40;

/** The EV cap C a site gets: 75 % of what its sessions could draw, so the cap binds. */
export function evCapKw(sessionsPerSite: number): number {
  const meanRated = RATED_KW.reduce((a, b) => a + b, 0) / RATED_KW.length;
  return Math.round(0.75 * sessionsPerSite * meanRated);
}

export function siteDemand(fleet: Fleet, measuredTs: Date = fleet.t0): SiteDemand[] {
  const cap = evCapKw(fleet.sessionsPerSite);
  const evLoad = Math.round(cap * 0.8);
  return Array.from({ length: fleet.sites }, (_, s) => ({
    siteId: siteId(s, fleet.prefix),
    demandLimitKw: cap + BUILDING_KW,
    currentDemandKw: BUILDING_KW + evLoad,
    evLoadKw: evLoad,
    measuredTs,
    phaseCurrentsA: null,
  }));
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A whole second, now: the frozen clock of a scenario (validation accepts times near now). */
export function benchEpoch(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
}
