// Made-up workplace sessions in the trace format (SPEC §12), seeded: the shipped example trace
// (sim/traces/example.csv) and month-sized traces to time the replay and the optimum.
//   npx tsx sim/trace/synthetic.ts --days 30 --sessions 1000 [--stations 60] [--seed 1] > month.csv
import { parseArgs } from "node:util";
import { Rng } from "../model/random.js";
import type { TraceSession } from "./csv.js";

export interface SyntheticOptions {
  readonly seed: number;
  /** First day, epoch ms of 00:00 UTC. */
  readonly startMs: number;
  readonly days: number;
  readonly sessions: number;
  readonly stations: number;
}

const RATINGS: readonly (readonly [number, number])[] = [
  [6.6, 0.35],
  [7.2, 0.25],
  [11, 0.25],
  [22, 0.15],
];
const H = 3_600_000;

/** Sessions spread over the weekdays; drivers' requests are rough guesses of what they take. */
export function syntheticSessions(options: SyntheticOptions): TraceSession[] {
  const rng = Rng.derive(options.seed, "trace");
  const weekdays: number[] = [];
  for (let d = 0; d < options.days; d += 1) {
    const day = options.startMs + d * 24 * H;
    const dow = new Date(day).getUTCDay();
    if (dow !== 0 && dow !== 6) weekdays.push(day);
  }
  if (weekdays.length === 0) weekdays.push(options.startMs);
  const drafts = Array.from({ length: options.sessions }, (_, i) => {
    const day = weekdays[i % weekdays.length] ?? options.startMs;
    const visitor = rng.chance(0.25);
    // Local time is UTC+1: arrivals around 08:30 local, visitors late morning.
    const arrivalH = visitor ? rng.uniform(9, 14) : rng.clampedNormal(8.5, 1, 6.5, 11);
    const dwellH = visitor ? rng.uniform(1, 4) : rng.clampedNormal(8.5, 1.5, 4, 11);
    const maxKw = rng.weighted(RATINGS);
    const arrivalMs = day + Math.round((arrivalH - 1) * 60) * 60_000;
    const departureMs = arrivalMs + Math.round(dwellH * 60) * 60_000;
    const energyKwh = Math.round(Math.min(rng.uniform(5, 45), maxKw * dwellH * rng.uniform(0.3, 0.9)) * 100) / 100;
    return { arrivalMs, departureMs, maxKw, energyKwh, visitor };
  });
  drafts.sort((a, b) => a.arrivalMs - b.arrivalMs);
  const stationFreeAt = new Array<number>(options.stations).fill(0);
  const sessions: TraceSession[] = [];
  for (const [i, d] of drafts.entries()) {
    const station = stationFreeAt.findIndex((free) => free <= d.arrivalMs);
    if (station < 0) continue; // all stations taken: the driver goes elsewhere
    stationFreeAt[station] = d.departureMs;
    const told = !d.visitor || rng.chance(0.5);
    sessions.push({
      sessionId: `s${String(i + 1).padStart(5, "0")}`,
      stationId: `CP-${String(station + 1).padStart(3, "0")}`,
      arrivalMs: d.arrivalMs,
      departureMs: d.departureMs,
      energyKwh: d.energyKwh,
      maxKw: d.maxKw,
      requestedDepartureMs: told ? d.departureMs + Math.round(rng.normal(0, 30)) * 60_000 : null,
      requestedEnergyKwh: told ? Math.max(1, Math.round(d.energyKwh * rng.uniform(0.8, 1.25))) : null,
    });
  }
  return sessions;
}

/** ISO-8601 in UTC+1 (a recorded trace carries the site's offset). */
function localIso(ms: number): string {
  return `${new Date(ms + H).toISOString().slice(0, 19)}+01:00`;
}

export function toTraceCsv(sessions: readonly TraceSession[]): string {
  const header = "session_id,station_id,arrival,departure,energy_kwh,max_kw,requested_departure,requested_energy_kwh";
  const rows = sessions.map((s) =>
    [
      s.sessionId,
      s.stationId,
      localIso(s.arrivalMs),
      localIso(s.departureMs),
      s.energyKwh,
      s.maxKw,
      s.requestedDepartureMs === null ? "" : localIso(s.requestedDepartureMs),
      s.requestedEnergyKwh ?? "",
    ].join(","),
  );
  return `${[header, ...rows].join("\n")}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "1" },
      start: { type: "string", default: "2026-03-02" },
      days: { type: "string", default: "2" },
      sessions: { type: "string", default: "40" },
      stations: { type: "string" },
    },
  });
  const sessions = Number(values.sessions);
  process.stdout.write(
    toTraceCsv(
      syntheticSessions({
        seed: Number(values.seed),
        startMs: Date.parse(`${values.start}T00:00:00Z`),
        days: Number(values.days),
        sessions,
        stations: Number(values.stations ?? Math.max(4, Math.ceil(sessions / Number(values.days)))),
      }),
    ),
  );
}
