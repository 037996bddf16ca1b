// The tutorial's original formula, defects included, as a baseline:
//   headroom = max(0, demand_limit - current_demand)      -- current demand includes the EVs,
//                                                          -- so the EVs chase their own load
//   setpoint = min(rated, max(3, headroom / NULLIF(count, 1)))
// NULLIF(count, 1) is NULL for a lone session and GREATEST ignores NULL, so it gets 3 kW.
// Recomputed every step from the measurement; a command whenever the value changes (no deadband).
import type { SitePlant } from "../plant.js";
import type { Controller } from "./types.js";

const MIN_KW = 3;

export function tutorialSetpointKw(limitKw: number, currentDemandKw: number, count: number, ratedKw: number): number {
  const headroom = Math.max(0, limitKw - currentDemandKw);
  const share = count === 1 ? null : headroom / count; // headroom / NULLIF(count, 1)
  const atLeast = share === null ? MIN_KW : Math.max(MIN_KW, share); // GREATEST skips NULL
  return Math.min(ratedKw, atLeast);
}

export function tutorial(): Controller {
  const lastKw = new Map<SitePlant, Map<string, number>>();
  return {
    policies: ["TUTORIAL"],
    start: async (plants) => {
      for (const plant of plants) lastKw.set(plant, new Map());
    },
    step: async (atS, reports) => {
      for (const { plant, report } of reports) {
        const last = lastKw.get(plant) ?? new Map<string, number>();
        const currentDemandKw = report.buildingKw + report.evLoadKw;
        for (const v of report.active) {
          const kw = tutorialSetpointKw(report.demandLimitKw, currentDemandKw, report.active.length, v.spec.ratedKw);
          const previous = last.get(v.spec.sessionId);
          if (previous !== undefined && Math.abs(previous - kw) < 0.005) continue;
          last.set(v.spec.sessionId, kw);
          plant.command(v.spec.sessionId, kw, atS);
        }
      }
    },
    stop: async () => {},
  };
}
