// The tariff feed (a time-of-use schedule) and the utility's demand-response event.
import { DAY_S } from "./clock.js";

export type PriceTier = "OFF_PEAK" | "MID_PEAK" | "ON_PEAK" | "CRITICAL_PEAK";

export interface PriceInterval {
  readonly tier: PriceTier;
  readonly usdKwh: number;
  /** Seconds since the start of the day. */
  readonly fromS: number;
  readonly toS: number;
}

const H = 3600;

/** Off-peak at night, mid-peak by day, on-peak 16-21 h with a critical hour 18-19 h. */
export const TOU_SCHEDULE: readonly PriceInterval[] = [
  { tier: "OFF_PEAK", usdKwh: 0.11, fromS: 0, toS: 7 * H },
  { tier: "MID_PEAK", usdKwh: 0.19, fromS: 7 * H, toS: 16 * H },
  { tier: "ON_PEAK", usdKwh: 0.34, fromS: 16 * H, toS: 18 * H },
  { tier: "CRITICAL_PEAK", usdKwh: 0.62, fromS: 18 * H, toS: 19 * H },
  { tier: "ON_PEAK", usdKwh: 0.34, fromS: 19 * H, toS: 21 * H },
  { tier: "OFF_PEAK", usdKwh: 0.11, fromS: 21 * H, toS: DAY_S },
];

export function priceAt(schedule: readonly PriceInterval[], seconds: number): PriceInterval {
  const found = schedule.find((p) => p.fromS <= seconds && seconds < p.toS);
  // The service's default when no interval is in force (SPEC §3 rule 4).
  return found ?? { tier: "OFF_PEAK", usdKwh: 0.1, fromS: seconds, toS: seconds };
}

/**
 * The utility's event. Its baseline and curtailment follow from the site's enrolment, which the
 * simulation derives from the uncontrolled run (see simulate.ts) before the service runs.
 */
export interface DemandResponseEvent {
  readonly id: string;
  curtailmentPct: number;
  readonly startS: number;
  readonly endS: number;
  /** When the utility dispatches it. */
  readonly signalS: number;
  baselineKw: number;
}

/** One early-afternoon event: dispatched at 11:00 for 13:00-14:30. */
export function afternoonDrEvent(siteId: string): DemandResponseEvent {
  return {
    id: `dr-${siteId}-afternoon`,
    curtailmentPct: 30,
    startS: 13 * H,
    endS: 14.5 * H,
    signalS: 11 * H,
    baselineKw: 0,
  };
}
