// Building load through the day: a daily shape per kind of site, slow noise, and equipment that
// switches on and off (chillers, compressors): the sudden jumps a controller has to follow.
import { DAY_S } from "./clock.js";
import type { Rng } from "./random.js";

export type SiteKind = "office" | "depot" | "retail";

/** [hour, fraction of peak] keypoints, interpolated linearly. */
const SHAPES: Record<SiteKind, readonly (readonly [number, number])[]> = {
  // Low at night, morning ramp, midday plateau with a lunch bump, evening decline.
  office: [
    [0, 0.3],
    [5, 0.3],
    [6, 0.42],
    [8, 0.82],
    [9, 0.95],
    [12, 0.92],
    [13, 0.97],
    [16, 0.9],
    [18, 0.6],
    [20, 0.38],
    [24, 0.3],
  ],
  // Warehouse: early shift start, long plateau, lighting at night.
  depot: [
    [0, 0.35],
    [4, 0.45],
    [6, 0.85],
    [10, 0.8],
    [12, 0.88],
    [16, 0.8],
    [19, 0.68],
    [22, 0.45],
    [24, 0.35],
  ],
  // Shopping centre: opens at 9, busiest late afternoon.
  retail: [
    [0, 0.25],
    [7, 0.3],
    [9, 0.72],
    [11, 0.88],
    [14, 0.85],
    [17, 0.97],
    [20, 0.9],
    [21, 0.5],
    [22, 0.3],
    [24, 0.25],
  ],
};

export function shapeAt(kind: SiteKind, hour: number): number {
  const points = SHAPES[kind];
  for (let i = 1; i < points.length; i += 1) {
    const [h1, f1] = points[i] ?? [24, 0];
    const [h0, f0] = points[i - 1] ?? [0, 0];
    if (hour <= h1) return f0 + ((f1 - f0) * (hour - h0)) / (h1 - h0);
  }
  return points[points.length - 1]?.[1] ?? 0;
}

/** Building load in kW for each step of the day (constant within a step). */
export function buildingProfile(kind: SiteKind, peakKw: number, stepS: number, rng: Rng): Float64Array {
  const steps = DAY_S / stepS;
  const load = new Float64Array(steps);
  let noise = 0;
  let equipmentKw = 0;
  let equipmentUntil = -1;
  // Slow noise: AR(1) with a ~10 minute memory, about 3 % of peak.
  const phi = Math.exp(-stepS / 600);
  const sd = 0.03 * peakKw * Math.sqrt(1 - phi * phi);
  // Equipment switching on about twice an hour while the building is busy.
  const switchPerStep = (2 * stepS) / 3600;
  for (let k = 0; k < steps; k += 1) {
    const seconds = k * stepS;
    const base = shapeAt(kind, seconds / 3600) * peakKw;
    noise = phi * noise + rng.normal(0, sd);
    if (k >= equipmentUntil) equipmentKw = 0;
    if (equipmentKw === 0 && rng.chance(switchPerStep * (base / peakKw))) {
      equipmentKw = rng.uniform(0.06, 0.16) * peakKw;
      equipmentUntil = k + Math.round(rng.uniform(5 * 60, 40 * 60) / stepS);
    }
    load[k] = Math.max(0, Math.round((base + noise + equipmentKw) * 10) / 10);
  }
  return load;
}
