// Recorded charging sessions (SPEC §12): a CSV with a header row naming at least
//   session_id, station_id, arrival, departure, energy_kwh, max_kw
// and optionally requested_departure, requested_energy_kwh (other columns are ignored).
// Timestamps are ISO-8601 with an offset (or Z). A bad file fails with the line and column.

export interface TraceSession {
  readonly sessionId: string;
  readonly stationId: string;
  /** Plug-in and unplug, epoch ms. */
  readonly arrivalMs: number;
  readonly departureMs: number;
  /** Energy the vehicle took (what it needs, in this replay), kWh. */
  readonly energyKwh: number;
  /** The most the vehicle (and its charger) can draw, kW. */
  readonly maxKw: number;
  /** What the driver's app said, if recorded. */
  readonly requestedDepartureMs: number | null;
  readonly requestedEnergyKwh: number | null;
}

export class TraceFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: string | null,
    detail: string,
  ) {
    super(`${file}:${line}${column === null ? "" : ` column "${column}"`}: ${detail}`);
    this.name = "TraceFormatError";
  }
}

const REQUIRED = ["session_id", "station_id", "arrival", "departure", "energy_kwh", "max_kw"] as const;
const OPTIONAL = ["requested_departure", "requested_energy_kwh"] as const;
type ColumnName = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];

/** ISO-8601 date-time with an explicit offset or Z; a bare local time is ambiguous and refused. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Splits one CSV line (RFC 4180 quoting: "a,b" and "" for a quote inside). */
function splitCsvLine(text: string, fail: (detail: string) => never): string[] {
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === "") quoted = true;
    else if (ch === ",") {
      cells.push(cell);
      cell = "";
    } else cell += ch;
  }
  if (quoted) fail("unterminated quoted field");
  cells.push(cell);
  return cells.map((c) => c.trim());
}

export function parseTraceCsv(text: string, file = "trace.csv"): TraceSession[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== "");
  if (headerIndex < 0) throw new TraceFormatError(file, 1, null, "empty file (a header row is required)");
  const headerLine = headerIndex + 1;
  const header = splitCsvLine(lines[headerIndex] ?? "", (d) => {
    throw new TraceFormatError(file, headerLine, null, d);
  }).map((h) => h.toLowerCase());
  const position = new Map<ColumnName, number>();
  for (const name of [...REQUIRED, ...OPTIONAL]) {
    const i = header.indexOf(name);
    if (i >= 0) position.set(name, i);
  }
  const missing = REQUIRED.filter((name) => !position.has(name));
  if (missing.length > 0) {
    throw new TraceFormatError(
      file,
      headerLine,
      null,
      `header lacks column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (it has: ${header.join(", ")})`,
    );
  }
  const sessions: TraceSession[] = [];
  const seen = new Map<string, number>();
  for (let index = headerIndex + 1; index < lines.length; index += 1) {
    const raw = lines[index] ?? "";
    if (raw.trim() === "") continue;
    const line = index + 1;
    const fail = (column: ColumnName | null, detail: string): never => {
      throw new TraceFormatError(file, line, column, detail);
    };
    const cells = splitCsvLine(raw, (d) => fail(null, d));
    if (cells.length < header.length) fail(null, `${cells.length} fields, the header has ${header.length}`);
    const cell = (name: ColumnName) => {
      const i = position.get(name);
      return i === undefined ? "" : (cells[i] ?? "");
    };
    const text = (name: ColumnName) => cell(name) || fail(name, "is empty");
    const time = (name: ColumnName, optional = false): number | null => {
      const value = cell(name);
      if (value === "" && optional) return null;
      if (!ISO_WITH_OFFSET.test(value)) {
        fail(name, `"${value}" is not an ISO-8601 timestamp with an offset (e.g. 2026-03-02T08:15:00+01:00)`);
      }
      const ms = Date.parse(value);
      // Date.parse rolls 2026-02-30 over to March: check the calendar date too.
      const [y, m, d] = value.slice(0, 10).split("-").map(Number) as [number, number, number];
      const real = new Date(Date.UTC(y, m - 1, d));
      if (Number.isNaN(ms) || real.getUTCMonth() !== m - 1 || real.getUTCDate() !== d)
        fail(name, `"${value}" is not a valid date-time`);
      return ms;
    };
    const number = (name: ColumnName, optional = false, positive = false): number | null => {
      const value = cell(name);
      if (value === "" && optional) return null;
      const n = Number(value);
      if (value === "" || !Number.isFinite(n)) fail(name, `"${value}" is not a number`);
      if (n < 0 || (positive && n === 0)) fail(name, `${value} must be ${positive ? "greater than" : "at least"} 0`);
      return n;
    };
    const sessionId = text("session_id");
    const previous = seen.get(sessionId);
    if (previous !== undefined) fail("session_id", `"${sessionId}" repeats the session of line ${previous}`);
    seen.set(sessionId, line);
    const arrivalMs = time("arrival") as number;
    const departureMs = time("departure") as number;
    if (departureMs <= arrivalMs) fail("departure", "is not after arrival");
    const requestedDepartureMs = time("requested_departure", true);
    if (requestedDepartureMs !== null && requestedDepartureMs <= arrivalMs)
      fail("requested_departure", "is not after arrival");
    sessions.push({
      sessionId,
      stationId: text("station_id"),
      arrivalMs,
      departureMs,
      energyKwh: number("energy_kwh") as number,
      maxKw: number("max_kw", false, true) as number,
      requestedDepartureMs,
      requestedEnergyKwh: number("requested_energy_kwh", true),
    });
  }
  if (sessions.length === 0) throw new TraceFormatError(file, headerLine, null, "no sessions after the header");
  return sessions.sort((a, b) => a.arrivalMs - b.arrivalMs || a.sessionId.localeCompare(b.sessionId));
}
