// A controller decides, at each step, what every charger of the plants it drives may draw.
import type { Policy } from "../metrics.js";
import type { SitePlant, StepReport } from "../plant.js";

export interface PlantReport {
  readonly plant: SitePlant;
  readonly report: StepReport;
}

export interface Controller {
  /** The plants (by policy) this controller drives. */
  readonly policies: readonly Policy[];
  start(plants: readonly SitePlant[]): Promise<void>;
  /** Sees the step's reports; its commands reach the plants (with their delay) before it returns. */
  step(atS: number, reports: readonly PlantReport[]): Promise<void>;
  stop(): Promise<void>;
}
