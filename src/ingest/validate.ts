// Validation of the four input streams and session ends (SPEC §2). One code path for GraphQL and
// Kafka: both hand a camelCase record here and get a typed event or the list of problems.
import { GRID_PHASES, type GridPhase, PRICE_TIERS, type PriceTier } from "../domain.js";

export interface Issue {
  readonly field: string;
  readonly message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

export interface SessionSample {
  sessionId: string;
  chargePointId: string;
  connectorId: number;
  siteId: string;
  idTag: string | null;
  ratedPowerKw: number;
  currentPowerKw: number | null;
  socPct: number | null;
  energyKwh: number | null;
  sessionStartTs: Date;
  sampledTs: Date;
  /** Set when the sample ends the session (`ended: true` or an `ended_ts`). */
  endedTs: Date | null;
  // SPEC §9, all optional: null is "unknown", never zero.
  /** When the driver leaves (requested or estimated); after sessionStartTs. */
  departureTs: Date | null;
  /** Energy the driver wants in this session in total, 0-1,000 kWh. */
  requestedEnergyKwh: number | null;
  /** What the vehicle itself accepts (ISO 15118); evMinKw ≤ evMaxKw. */
  evMaxKw: number | null;
  evMinKw: number | null;
  /** What the driver offers per kWh for a faster share, 0-100 USD/kWh. */
  bidUsdKwh: number | null;
  /** Integer −1000..1000, higher first. */
  priority: number | null;
  // SPEC §9 electrical model and OCPP id, all optional.
  /** Phases the session draws on: 1, 2 or 3. */
  phases: number | null;
  /** The grid phase of a 1-phase (or the first of a 2-phase) session. */
  phase: GridPhase | null;
  /** Phase-to-neutral voltage, 100-1,000 V (absent: the charge point's or the site's). */
  voltageV: number | null;
  /** OCPP transaction id: a 1.6 integer or a 2.0.1 string of at most 36 characters, kept as text. */
  transactionId: string | null;
}

export interface SiteDemand {
  siteId: string;
  demandLimitKw: number;
  currentDemandKw: number;
  evLoadKw: number;
  measuredTs: Date;
  /** Measured current per grid phase [L1, L2, L3] (building + EV), amps; optional. */
  phaseCurrentsA: number[] | null;
}

export interface PriceSignal {
  tariffId: string;
  siteId: string;
  priceUsdKwh: number;
  priceTier: PriceTier;
  validFrom: Date;
  validTo: Date;
}

export interface DemandResponseSignal {
  drEventId: string;
  siteId: string;
  curtailmentPct: number;
  baselineKw: number;
  eventStartTs: Date;
  eventEndTs: Date;
  signalTs: Date;
}

const MAX_ID_LENGTH = 200;
const MAX_POWER_KW = 1_000_000;
/** A session's requested energy: more than any vehicle battery (SPEC §9). */
const MAX_SESSION_ENERGY_KWH = 1_000;
/** A driver's bid: above this it is a typo or an attack, not an offer. */
const MAX_BID_USD_KWH = 100;
const MAX_PRIORITY = 1_000;
/** OCPP 2.0.1 transactionId: string(36); 1.6: an integer (int32). */
const MAX_TRANSACTION_ID_LENGTH = 36;
const MIN_VOLTAGE_V = 100;
const MAX_VOLTAGE_V = 1_000;
const MAX_PHASE_CURRENT_A = 100_000;
const EARLIEST = Date.parse("2000-01-01T00:00:00Z");
const DAY_MS = 86_400_000;
/** Observations (samples, measurements, signals) may lead our clock by at most this much. */
const OBSERVATION_LEAD_MS = 2 * DAY_MS;
/** Schedules (tariff intervals, DR windows) may be published this far ahead. */
const SCHEDULE_LEAD_MS = 400 * DAY_MS;
// biome-ignore lint/suspicious/noControlCharactersInRegex: this pattern exists to find them
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
const ISO_WITH_OFFSET =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/**
 * An ISO-8601 timestamp with an offset, or null. Impossible dates and times are refused (JavaScript
 * would roll 2026-02-30 over to 2026-03-02 and store a day nobody sent).
 */
export function parseTimestamp(text: string): Date | null {
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m.slice(1).map((v) => Number(v ?? 0));
  const daysInMonth = new Date(Date.UTC(year ?? 0, month ?? 0, 0)).getUTCDate();
  const valid =
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    offsetHours! <= 23 &&
    offsetMinutes! <= 59;
  if (!valid) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

type Raw = Readonly<Record<string, unknown>>;

/** Collects the problems of one record while reading its fields. */
class Reader {
  readonly issues: Issue[] = [];
  constructor(
    private readonly raw: Raw,
    private readonly now: number,
  ) {}

  private fail(field: string, message: string): undefined {
    this.issues.push({ field, message });
    return undefined;
  }

  id(field: string): string {
    const value = this.raw[field];
    if (value === undefined || value === null || value === "") return this.fail(field, "is required") ?? "";
    if (typeof value !== "string") return this.fail(field, "must be a string") ?? "";
    if (value.trim() !== value || value.length > MAX_ID_LENGTH || CONTROL_CHARACTERS.test(value)) {
      return (
        this.fail(field, `must be 1-${MAX_ID_LENGTH} characters without surrounding spaces or control characters`) ?? ""
      );
    }
    return value;
  }

  optionalString(field: string): string | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return null;
    if (typeof value !== "string" || value.length > MAX_ID_LENGTH || CONTROL_CHARACTERS.test(value)) {
      return (
        this.fail(field, `must be a string of at most ${MAX_ID_LENGTH} characters without control characters`) ?? null
      );
    }
    return value;
  }

  private number(field: string, required: boolean, min: number, max: number, unit: string): number | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return required ? (this.fail(field, "is required") ?? 0) : null;
    if (typeof value !== "number" || !Number.isFinite(value)) return this.fail(field, "must be a finite number") ?? 0;
    if (value < min || value > max)
      return this.fail(field, `must be between ${min} and ${max}${unit}, got ${value}`) ?? 0;
    return value;
  }

  power(field: string): number {
    return this.number(field, true, 0, MAX_POWER_KW, " kW") ?? 0;
  }

  optionalPower(field: string): number | null {
    return this.number(field, false, 0, MAX_POWER_KW, " kW");
  }

  percent(field: string, required: boolean): number | null {
    return this.number(field, required, 0, 100, " %");
  }

  optionalEnergy(field: string): number | null {
    return this.number(field, false, 0, 1e9, " kWh");
  }

  optionalSessionEnergy(field: string): number | null {
    return this.number(field, false, 0, MAX_SESSION_ENERGY_KWH, " kWh");
  }

  optionalBid(field: string): number | null {
    return this.number(field, false, 0, MAX_BID_USD_KWH, " USD/kWh");
  }

  price(field: string): number {
    return this.number(field, true, -10_000, 10_000, " USD/kWh") ?? 0;
  }

  integer(field: string, min: number, max: number): number {
    return this.optionalInteger(field, min, max, true) ?? 0;
  }

  optionalInteger(field: string, min: number, max: number, required = false): number | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return required ? (this.fail(field, "is required") ?? 0) : null;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(field, `must be an integer between ${min} and ${max}`) ?? 0;
    }
    return value;
  }

  private time(field: string, required: boolean, leadMs: number): Date | null {
    const value = this.raw[field];
    if (value === undefined || value === null)
      return required ? (this.fail(field, "is required") ?? new Date(0)) : null;
    const date = value instanceof Date ? value : typeof value === "string" ? parseTimestamp(value) : null;
    if (!date || Number.isNaN(date.getTime())) {
      return (
        this.fail(field, "must be a valid ISO-8601 timestamp with an offset, e.g. 2026-05-01T12:00:00Z") ?? new Date(0)
      );
    }
    if (date.getTime() < EARLIEST) return this.fail(field, "is before 2000-01-01") ?? date;
    if (date.getTime() > this.now + leadMs) return this.fail(field, "is too far in the future") ?? date;
    return date;
  }

  observedAt(field: string): Date {
    return this.time(field, true, OBSERVATION_LEAD_MS) ?? new Date(0);
  }

  optionalObservedAt(field: string): Date | null {
    return this.time(field, false, OBSERVATION_LEAD_MS);
  }

  scheduledAt(field: string): Date {
    return this.time(field, true, SCHEDULE_LEAD_MS) ?? new Date(0);
  }

  optionalScheduledAt(field: string): Date | null {
    return this.time(field, false, SCHEDULE_LEAD_MS);
  }

  /** Reports `field` when a value it had was refused, so a later comparison can skip it. */
  failed(field: string): boolean {
    return this.issues.some((i) => i.field === field);
  }

  optionalBoolean(field: string): boolean | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return null;
    if (typeof value !== "boolean") return this.fail(field, "must be true or false") ?? null;
    return value;
  }

  optionalPhase(field: string): GridPhase | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return null;
    if (!(GRID_PHASES as readonly unknown[]).includes(value)) {
      return this.fail(field, `must be one of ${GRID_PHASES.join(", ")}`) ?? null;
    }
    return value as GridPhase;
  }

  optionalVoltage(field: string): number | null {
    return this.number(field, false, MIN_VOLTAGE_V, MAX_VOLTAGE_V, " V");
  }

  /** OCPP 1.6 sends an integer, 2.0.1 a string (at most 36 characters); both are kept as text. */
  optionalTransactionId(field: string): string | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return null;
    if (typeof value === "number") {
      if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31)
        return this.fail(field, "must be a 32-bit integer (OCPP 1.6) or a string (OCPP 2.0.1)") ?? null;
      return String(value);
    }
    if (
      typeof value !== "string" ||
      value.length === 0 ||
      value.length > MAX_TRANSACTION_ID_LENGTH ||
      CONTROL_CHARACTERS.test(value)
    ) {
      return (
        this.fail(
          field,
          `must be an integer (OCPP 1.6) or a string of 1-${MAX_TRANSACTION_ID_LENGTH} characters without control characters (OCPP 2.0.1)`,
        ) ?? null
      );
    }
    return value;
  }

  /** [L1, L2, L3]: exactly three finite currents, 0-100,000 A. */
  optionalPhaseCurrents(field: string): number[] | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return null;
    if (
      !Array.isArray(value) ||
      value.length !== 3 ||
      !value.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_PHASE_CURRENT_A)
    ) {
      return (
        this.fail(field, `must be three currents [L1, L2, L3], each between 0 and ${MAX_PHASE_CURRENT_A} A`) ?? null
      );
    }
    return value as number[];
  }

  tier(field: string): PriceTier {
    const value = this.raw[field];
    if (!(PRICE_TIERS as readonly unknown[]).includes(value)) {
      return this.fail(field, `must be one of ${PRICE_TIERS.join(", ")}`) ?? "OFF_PEAK";
    }
    return value as PriceTier;
  }

  order(earlierField: string, earlier: Date | null, laterField: string, later: Date | null): void {
    if (earlier && later && later.getTime() <= earlier.getTime())
      this.fail(laterField, `must be after ${earlierField}`);
  }

  result<T>(value: T): Checked<T> {
    return this.issues.length === 0 ? { ok: true, value } : { ok: false, issues: this.issues };
  }
}

export function checkSessionSample(raw: Raw, now = Date.now()): Checked<SessionSample> {
  const r = new Reader(raw, now);
  const sample: SessionSample = {
    sessionId: r.id("sessionId"),
    chargePointId: r.id("chargePointId"),
    connectorId: r.integer("connectorId", 0, 1000),
    siteId: r.id("siteId"),
    idTag: r.optionalString("idTag"),
    ratedPowerKw: r.power("ratedPowerKw"),
    currentPowerKw: r.optionalPower("currentPowerKw"),
    socPct: r.percent("socPct", false),
    energyKwh: r.optionalEnergy("energyKwh"),
    sessionStartTs: r.observedAt("sessionStartTs"),
    sampledTs: r.observedAt("sampledTs"),
    endedTs: null,
    departureTs: r.optionalScheduledAt("departureTs"),
    requestedEnergyKwh: r.optionalSessionEnergy("requestedEnergyKwh"),
    evMaxKw: r.optionalPower("evMaxKw"),
    evMinKw: r.optionalPower("evMinKw"),
    bidUsdKwh: r.optionalBid("bidUsdKwh"),
    priority: r.optionalInteger("priority", -MAX_PRIORITY, MAX_PRIORITY),
    phases: r.optionalInteger("phases", 1, 3),
    phase: r.optionalPhase("phase"),
    voltageV: r.optionalVoltage("voltageV"),
    transactionId: r.optionalTransactionId("transactionId"),
  };
  const endedTs = r.optionalObservedAt("endedTs");
  const ended = r.optionalBoolean("ended");
  sample.endedTs = endedTs ?? (ended ? sample.sampledTs : null);
  const startValid = !r.failed("sessionStartTs");
  if (startValid && !r.failed("sampledTs") && sample.sampledTs.getTime() < sample.sessionStartTs.getTime()) {
    r.issues.push({ field: "sampledTs", message: "must not be before sessionStartTs" });
  }
  if (startValid && !r.failed("departureTs"))
    r.order("sessionStartTs", sample.sessionStartTs, "departureTs", sample.departureTs);
  if (!r.failed("evMinKw") && !r.failed("evMaxKw") && sample.evMinKw !== null && sample.evMaxKw !== null) {
    if (sample.evMinKw > sample.evMaxKw) r.issues.push({ field: "evMinKw", message: "must not be above evMaxKw" });
  }
  return r.result(sample);
}

export function checkSiteDemand(raw: Raw, now = Date.now()): Checked<SiteDemand> {
  const r = new Reader(raw, now);
  return r.result({
    siteId: r.id("siteId"),
    demandLimitKw: r.power("demandLimitKw"),
    currentDemandKw: r.power("currentDemandKw"),
    evLoadKw: r.power("evLoadKw"),
    measuredTs: r.observedAt("measuredTs"),
    phaseCurrentsA: r.optionalPhaseCurrents("phaseCurrentsA"),
  });
}

export function checkPriceSignal(raw: Raw, now = Date.now()): Checked<PriceSignal> {
  const r = new Reader(raw, now);
  const signal: PriceSignal = {
    tariffId: r.id("tariffId"),
    siteId: r.id("siteId"),
    priceUsdKwh: r.price("priceUsdKwh"),
    priceTier: r.tier("priceTier"),
    validFrom: r.scheduledAt("validFrom"),
    validTo: r.scheduledAt("validTo"),
  };
  r.order("validFrom", signal.validFrom, "validTo", signal.validTo);
  return r.result(signal);
}

export function checkDemandResponse(raw: Raw, now = Date.now()): Checked<DemandResponseSignal> {
  const r = new Reader(raw, now);
  const signal: DemandResponseSignal = {
    drEventId: r.id("drEventId"),
    siteId: r.id("siteId"),
    curtailmentPct: r.percent("curtailmentPct", true) ?? 0,
    baselineKw: r.optionalPower("baselineKw") ?? 0,
    eventStartTs: r.scheduledAt("eventStartTs"),
    eventEndTs: r.scheduledAt("eventEndTs"),
    signalTs: r.observedAt("signalTs"),
  };
  r.order("eventStartTs", signal.eventStartTs, "eventEndTs", signal.eventEndTs);
  return r.result(signal);
}

export function checkSessionEnd(raw: Raw, now = Date.now()): Checked<{ sessionId: string; endedAt: Date | null }> {
  const r = new Reader(raw, now);
  return r.result({ sessionId: r.id("sessionId"), endedAt: r.optionalObservedAt("endedAt") });
}

/** Checks a batch; the problems of every bad item, each with its index. */
export function checkBatch<T>(
  items: readonly Raw[],
  check: (raw: Raw, now: number) => Checked<T>,
  now = Date.now(),
): Checked<T[]> {
  const values: T[] = [];
  const issues: Issue[] = [];
  items.forEach((item, index) => {
    const checked = check(item, now);
    if (checked.ok) values.push(checked.value);
    else
      for (const issue of checked.issues)
        issues.push({ field: `inputs[${index}].${issue.field}`, message: issue.message });
  });
  return issues.length === 0 ? { ok: true, value: values } : { ok: false, issues };
}
