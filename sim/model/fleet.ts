// The vehicles that plug in at a site during the day: when they arrive (workplace, depot and
// car-park patterns), what they can take (on-board charger, battery) and what they want.
import type { SiteKind } from "./building.js";
import { DAY_S } from "./clock.js";
import type { Rng } from "./random.js";

export interface EvSpec {
  /** Unique within a site; the service session id is `<service site>/<sessionId>`. */
  readonly sessionId: string;
  readonly chargePointId: string;
  readonly idTag: string;
  /** On-board charger limit, kW (also what the charger reports as rated power). */
  readonly ratedKw: number;
  readonly batteryKwh: number;
  readonly arrivalSocPct: number;
  readonly targetSocPct: number;
  /** Energy the driver asked for: (target - arrival SoC) of the battery. */
  readonly requestedKwh: number;
  /** Plug-in time, seconds since 00:00 (a step boundary). */
  readonly arrivalS: number;
  /** Planned departure (a step boundary), or null when the vehicle stays past the end of the day. */
  readonly departureS: number | null;
  /**
   * What the driver's app offers per kWh for a faster share (BID_WEIGHTED), USD; null: no bid
   * (the service then takes the site's reserve, the current tariff price).
   */
  readonly bidUsdKwh: number | null;
}

interface Draft {
  ratedKw: number;
  batteryKwh: number;
  arrivalSocPct: number;
  targetSocPct: number;
  arrivalH: number;
  /** null: stays past midnight. */
  departureH: number | null;
}

const CAR_RATINGS: readonly (readonly [number, number])[] = [
  [7.4, 0.3],
  [11, 0.4],
  [22, 0.25],
  [50, 0.05],
];
const VAN_RATINGS: readonly (readonly [number, number])[] = [
  [11, 0.3],
  [22, 0.45],
  [50, 0.25],
];
const PUBLIC_RATINGS: readonly (readonly [number, number])[] = [
  [7.4, 0.1],
  [11, 0.3],
  [22, 0.35],
  [50, 0.25],
];

/** A car (40-90 kWh) on a charger of one of `ratings`, arriving with a state of charge in `socPct` and wanting one in `targetPct`. */
function car(
  rng: Rng,
  ratings: readonly (readonly [number, number])[],
  socPct: readonly [number, number],
  targetPct: readonly [number, number],
): Pick<Draft, "ratedKw" | "batteryKwh" | "arrivalSocPct" | "targetSocPct"> {
  return {
    ratedKw: rng.weighted(ratings),
    batteryKwh: Math.round(rng.uniform(40, 90)),
    arrivalSocPct: rng.uniform(socPct[0], socPct[1]),
    targetSocPct: rng.uniform(targetPct[0], targetPct[1]),
  };
}

function officeDraft(rng: Rng): Draft {
  const visitor = rng.chance(0.2);
  const arrivalH = visitor ? rng.uniform(10, 14) : rng.clampedNormal(8.3, 0.9, 6, 11);
  const dwellH = visitor ? rng.uniform(1.5, 4) : rng.clampedNormal(8.5, 1.2, 4, 11);
  return { ...car(rng, CAR_RATINGS, [25, 65], [80, 90]), arrivalH, departureH: arrivalH + dwellH };
}

function depotDraft(rng: Rng): Draft {
  const van = {
    ratedKw: rng.weighted(VAN_RATINGS),
    batteryKwh: Math.round(rng.uniform(60, 110)),
  };
  const group = rng.weighted<"overnight" | "midday" | "evening">([
    ["overnight", 0.55],
    ["midday", 0.2],
    ["evening", 0.25],
  ]);
  if (group === "overnight") {
    // Plugged in since last night; leaves on the morning routes.
    return {
      ...van,
      arrivalSocPct: rng.uniform(10, 35),
      targetSocPct: rng.uniform(90, 100),
      arrivalH: 0,
      departureH: rng.uniform(5, 7.5),
    };
  }
  if (group === "midday") {
    const arrivalH = rng.uniform(10.5, 14);
    return {
      ...van,
      arrivalSocPct: rng.uniform(30, 55),
      targetSocPct: 80,
      arrivalH,
      departureH: arrivalH + rng.uniform(1.5, 3.5),
    };
  }
  return {
    ...van,
    arrivalSocPct: rng.uniform(10, 40),
    targetSocPct: rng.uniform(90, 100),
    arrivalH: rng.uniform(17, 21),
    departureH: null,
  };
}

function retailDraft(rng: Rng): Draft {
  const arrivalH = rng.chance(0.5) ? rng.clampedNormal(12.5, 1.5, 9, 21) : rng.clampedNormal(17.5, 1.2, 9, 21);
  // The car is drawn before the stay (the order of the random draws is part of the seeded scenario).
  return { ...car(rng, PUBLIC_RATINGS, [20, 60], [70, 85]), arrivalH, departureH: arrivalH + rng.uniform(0.75, 3) };
}

const DRAFTS: Record<SiteKind, (rng: Rng) => Draft> = { office: officeDraft, depot: depotDraft, retail: retailDraft };

function toStep(hours: number, stepS: number): number {
  return Math.round((hours * 3600) / stepS) * stepS;
}

/**
 * Who bids and what, per site kind: every depot van (the fleet operator's contract price), some
 * office drivers, half of the retail visitors (paying for speed); null: no bid.
 */
const BIDS: Record<SiteKind, { readonly share: number; readonly usdKwh: readonly [number, number] }> = {
  depot: { share: 1, usdKwh: [0.15, 0.3] },
  office: { share: 0.3, usdKwh: [0.1, 0.25] },
  retail: { share: 0.5, usdKwh: [0.2, 0.45] },
};

function drawBid(kind: SiteKind, rng: Rng): number | null {
  const { share, usdKwh } = BIDS[kind];
  const bids = rng.chance(share);
  const usd = rng.uniform(usdKwh[0], usdKwh[1]);
  return bids ? Math.round(usd * 100) / 100 : null;
}

/**
 * `count` vehicles, sorted by arrival, each on a charge point that is free when it arrives. Bids
 * come from their own stream (`bidRng`), so adding them left every other draw of a seed as it was.
 */
export function generateFleet(kind: SiteKind, count: number, stepS: number, rng: Rng, bidRng: Rng): EvSpec[] {
  const drafts = Array.from({ length: count }, () => DRAFTS[kind](rng)).sort((a, b) => a.arrivalH - b.arrivalH);
  const chargerFreeAt: number[] = [];
  return drafts.map((d, i) => {
    const arrivalS = toStep(d.arrivalH, stepS);
    const departureS =
      d.departureH === null ? null : Math.min(DAY_S - stepS, Math.max(arrivalS + stepS, toStep(d.departureH, stepS)));
    // Drivers ask for what their SoC target needs, but (most) not more than the stay allows at
    // full power: a request the dwell could never meet says nothing about the controller.
    const wantedKwh = ((d.targetSocPct - d.arrivalSocPct) / 100) * d.batteryKwh;
    const feasibleKwh =
      departureS === null ? wantedKwh : ((d.ratedKw * (departureS - arrivalS)) / 3600) * rng.uniform(0.5, 0.95);
    const requestedKwh = Math.round(Math.min(wantedKwh, feasibleKwh) * 10) / 10;
    let charger = chargerFreeAt.findIndex((free) => free <= arrivalS);
    if (charger < 0) charger = chargerFreeAt.push(0) - 1;
    chargerFreeAt[charger] = departureS ?? DAY_S;
    const number = String(i + 1).padStart(3, "0");
    return {
      sessionId: `ev-${number}`,
      chargePointId: `CP-${String(charger + 1).padStart(2, "0")}`,
      idTag: `TAG-${kind.toUpperCase()}-${number}`,
      ratedKw: d.ratedKw,
      batteryKwh: d.batteryKwh,
      arrivalSocPct: Math.round(d.arrivalSocPct * 10) / 10,
      targetSocPct: Math.round((d.arrivalSocPct + (requestedKwh / d.batteryKwh) * 100) * 10) / 10,
      requestedKwh,
      arrivalS,
      departureS,
      bidUsdKwh: drawBid(kind, bidRng),
    };
  });
}
