// The offline optimum: with perfect knowledge of every arrival, departure and energy, the most
// energy deliverable to the sessions of a world under the site limit, and among the schedules
// that deliver it, the cheapest under the tariff. A linear program solved with HiGHS (highs, the
// solver compiled to WebAssembly), built as sparse arrays:
//
//   x[i,t] >= 0   energy to session i in step t, kWh, for the steps it is plugged in
//   x[i,t] <= max_kw_i * dt                                   (the vehicle's rate)
//   sum_i x[i,t] <= max(0, limit - building_t) * dt           (one row per step: the site)
//   sum_t x[i,t] <= energy_i                                  (one row per session: its need)
//   1. maximise sum x;  2. minimise sum price_t * x[i,t] with sum x >= the maximum of 1.
//
// Every column has two nonzeros, so a month of 5-minute steps for ~1,000 sessions is a few
// hundred thousand columns and ~10,000 rows. The step grid is the controllers' own (a session
// is plugged in from the step after it arrives to the step it leaves), so the optimum bounds
// what any step-based controller can deliver; only the seconds a command takes to apply could
// let a controller exceed the limit, and that energy is reported as over the limit.
import highsImport, { type Highs } from "highs";
import type { TraceWorld } from "./world.js";

export interface OptimumResult {
  readonly capacityKw: number;
  readonly energyKwh: number;
  readonly costUsd: number;
  /** Per session (world order), kWh. */
  readonly deliveredKwh: Float64Array;
  /** Per step, mean EV load, kW. */
  readonly loadKw: Float64Array;
  readonly size: { readonly columns: number; readonly rows: number; readonly nonzeros: number };
  /** Wall time: building the arrays, the energy solve, the cost solve, ms. */
  readonly buildMs: number;
  readonly energySolveMs: number;
  readonly costSolveMs: number;
}

// The package is CommonJS to TypeScript but its ESM build exports the loader as default.
type Loader = typeof highsImport.default;
const highsLoader: Loader =
  typeof highsImport === "function" ? (highsImport as unknown as Loader) : highsImport.default;

let loading: Promise<Highs> | undefined;
/** The WebAssembly solver, loaded once per process on first use. */
export function loadSolver(): Promise<Highs> {
  loading ??= highsLoader();
  return loading;
}

export async function solveOptimum(world: TraceWorld, capacityKw: number): Promise<OptimumResult> {
  const highs = await loadSolver();
  const built = performance.now();
  const { steps, stepS, sessions } = world;
  const dtH = stepS / 3600;
  let columns = 0;
  for (const s of sessions) columns += Math.max(0, s.departureStep - s.arrivalStep);
  const rows = steps + sessions.length;
  const starts = new Int32Array(columns + 1);
  const indices = new Int32Array(2 * columns);
  const values = new Float64Array(2 * columns).fill(1);
  const colUpper = new Float64Array(columns);
  const colStep = new Int32Array(columns);
  const colSession = new Int32Array(columns);
  let j = 0;
  for (const s of sessions) {
    for (let t = s.arrivalStep; t < s.departureStep; t += 1) {
      starts[j] = 2 * j;
      indices[2 * j] = t;
      indices[2 * j + 1] = steps + s.index;
      colUpper[j] = s.maxKw * dtH;
      colStep[j] = t;
      colSession[j] = s.index;
      j += 1;
    }
  }
  starts[columns] = 2 * columns;
  const rowUpper = new Float64Array(rows);
  for (let t = 0; t < steps; t += 1) {
    const kw = Math.max(0, capacityKw - (world.buildingKw[t] ?? 0));
    rowUpper[t] = Number.isFinite(kw) ? kw * dtH : highs.infinity;
  }
  for (const s of sessions) rowUpper[steps + s.index] = s.energyKwh;
  const model = highs.createModel({
    numCols: columns,
    numRows: rows,
    sense: highs.constants.objectiveSense.maximize,
    colCost: new Float64Array(columns).fill(1),
    colLower: new Float64Array(columns),
    colUpper,
    rowLower: new Float64Array(rows).fill(-highs.infinity),
    rowUpper,
    matrix: { format: "csc", numRows: rows, numCols: columns, starts, indices, values },
  });
  try {
    model.options.set({ output_flag: false });
    const buildMs = performance.now() - built;
    const optimal = highs.constants.modelStatus.optimal;
    let t0 = performance.now();
    const first = model.run();
    const energySolveMs = performance.now() - t0;
    if (first.modelStatus !== optimal && columns > 0)
      throw new Error(`offline optimum: HiGHS ended with model status ${first.modelStatus}`);
    const energyKwh = columns > 0 ? model.getObjectiveValue() : 0;
    // Second objective: the least cost among the schedules that deliver (all but a hair of) it.
    t0 = performance.now();
    if (columns > 0) {
      const all = Int32Array.from({ length: columns }, (_, k) => k);
      model.addRow(energyKwh - Math.max(1e-6, 1e-7 * energyKwh), highs.infinity, {
        indices: all,
        values: new Float64Array(columns).fill(1),
      });
      model.changeColsCost(
        { kind: "range", from: 0, to: columns - 1 },
        Float64Array.from(colStep, (t) => world.usdKwh[t] ?? 0),
      );
      model.changeObjectiveSense(highs.constants.objectiveSense.minimize);
      const second = model.run();
      if (second.modelStatus !== optimal)
        throw new Error(`offline optimum (cost): HiGHS ended with model status ${second.modelStatus}`);
    }
    const costSolveMs = performance.now() - t0;
    const x = columns > 0 ? model.getSolution().colValue : new Float64Array();
    const deliveredKwh = new Float64Array(sessions.length);
    const loadKw = new Float64Array(steps);
    let delivered = 0;
    let costUsd = 0;
    for (let k = 0; k < columns; k += 1) {
      const kwh = Math.max(0, x[k] ?? 0);
      const t = colStep[k] ?? 0;
      const i = colSession[k] ?? 0;
      deliveredKwh[i] = (deliveredKwh[i] ?? 0) + kwh;
      loadKw[t] = (loadKw[t] ?? 0) + kwh / dtH;
      delivered += kwh;
      costUsd += kwh * (world.usdKwh[t] ?? 0);
    }
    return {
      capacityKw,
      energyKwh: delivered,
      costUsd,
      deliveredKwh,
      loadKw,
      size: { columns, rows, nonzeros: 2 * columns },
      buildMs,
      energySolveMs,
      costSolveMs,
    };
  } finally {
    model.dispose();
  }
}
