// Simulated time: seconds since 00:00 UTC of the simulated day, stepped in fixed steps.

export const DAY_S = 86_400;

export interface SimTime {
  /** 00:00 UTC of the simulated day, epoch ms. */
  readonly dayStartMs: number;
  /** Length of one control step, seconds. */
  readonly stepS: number;
  /** Steps in the day. */
  readonly steps: number;
}

/** Yesterday 00:00 UTC: observations may not lead real time by much, so the day is in the past. */
export function yesterdayUtc(nowMs: number = Date.now()): number {
  const today = new Date(nowMs);
  return Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()) - DAY_S * 1000;
}

export function simTime(dayStartMs: number, stepS: number): SimTime {
  if (DAY_S % stepS !== 0) throw new Error(`step ${stepS} s must divide a day`);
  return { dayStartMs, stepS, steps: DAY_S / stepS };
}

export function isoAt(time: SimTime, seconds: number): string {
  return new Date(time.dayStartMs + seconds * 1000).toISOString();
}

export function hours(seconds: number): number {
  return seconds / 3600;
}
