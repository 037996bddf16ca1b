// The registry of input streams (docs/kafka.md). One descriptor per stream drives the GraphQL
// ingest mutations, the Kafka consumer, the topic settings in config and the docs test: adding a
// stream is a descriptor here, a migration for its raw table and a schema file for its mutation.
import { snakeToCamel } from "../lib/case.js";
import {
  type Checked,
  checkDemandResponse,
  checkPriceSignal,
  checkSessionSample,
  checkSiteDemand,
  type DemandResponseSignal,
  type PriceSignal,
  type SessionSample,
  type SiteDemand,
} from "./validate.js";

/** One column of a raw table: its name, its SQL array type, and its value per row. */
export interface Column<T> {
  readonly name: string;
  readonly type: "text" | "int" | "float8" | "timestamptz";
  readonly value: (row: T) => string | number | null;
  /** A cast applied when the value is stored (an array travels as its text form). */
  readonly cast?: string;
}

export interface InputStream<T> {
  readonly description: string;
  /** The environment variable naming the Kafka topic, and the topic when it is not set. */
  readonly topicVariable: string;
  readonly defaultTopic: string;
  /** The append-only raw table every accepted event goes to; triggers recompute from there. */
  readonly table: string;
  readonly columns: readonly Column<T>[];
  /** Input fields (camelCase) that are not columns of their own (e.g. `ended`, folded into ended_ts). */
  readonly inputOnlyFields?: readonly string[];
  readonly check: (raw: Readonly<Record<string, unknown>>, now: number) => Checked<T>;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

const sessionSamples: InputStream<SessionSample> = {
  description: "session samples (OCPP MeterValues)",
  topicVariable: "KAFKA_TOPIC_SESSIONS",
  defaultTopic: "ocpp.active.sessions",
  table: "session_samples_raw",
  columns: [
    { name: "session_id", type: "text", value: (r) => r.sessionId },
    { name: "charge_point_id", type: "text", value: (r) => r.chargePointId },
    { name: "connector_id", type: "int", value: (r) => r.connectorId },
    { name: "site_id", type: "text", value: (r) => r.siteId },
    { name: "id_tag", type: "text", value: (r) => r.idTag },
    { name: "rated_power_kw", type: "float8", value: (r) => r.ratedPowerKw },
    { name: "current_power_kw", type: "float8", value: (r) => r.currentPowerKw },
    { name: "soc_pct", type: "float8", value: (r) => r.socPct },
    { name: "energy_kwh", type: "float8", value: (r) => r.energyKwh },
    { name: "session_start_ts", type: "timestamptz", value: (r) => iso(r.sessionStartTs) },
    { name: "sampled_ts", type: "timestamptz", value: (r) => iso(r.sampledTs) },
    { name: "ended_ts", type: "timestamptz", value: (r) => iso(r.endedTs) },
    { name: "departure_ts", type: "timestamptz", value: (r) => iso(r.departureTs) },
    { name: "requested_energy_kwh", type: "float8", value: (r) => r.requestedEnergyKwh },
    { name: "ev_max_kw", type: "float8", value: (r) => r.evMaxKw },
    { name: "ev_min_kw", type: "float8", value: (r) => r.evMinKw },
    { name: "bid_usd_kwh", type: "float8", value: (r) => r.bidUsdKwh },
    { name: "priority", type: "int", value: (r) => r.priority },
    { name: "phases", type: "int", value: (r) => r.phases },
    { name: "phase", type: "text", value: (r) => r.phase },
    { name: "voltage_v", type: "float8", value: (r) => r.voltageV },
    { name: "transaction_id", type: "text", value: (r) => r.transactionId },
  ],
  inputOnlyFields: ["ended"],
  check: checkSessionSample,
};

const siteDemand: InputStream<SiteDemand> = {
  description: "site demand (building energy management system)",
  topicVariable: "KAFKA_TOPIC_DEMAND",
  defaultTopic: "bems.site.demand",
  table: "site_demand_raw",
  columns: [
    { name: "site_id", type: "text", value: (r) => r.siteId },
    { name: "demand_limit_kw", type: "float8", value: (r) => r.demandLimitKw },
    { name: "current_demand_kw", type: "float8", value: (r) => r.currentDemandKw },
    { name: "ev_load_kw", type: "float8", value: (r) => r.evLoadKw },
    { name: "measured_ts", type: "timestamptz", value: (r) => iso(r.measuredTs) },
    {
      name: "phase_currents_a",
      type: "text",
      cast: "float8[]",
      value: (r) => (r.phaseCurrentsA ? `{${r.phaseCurrentsA.join(",")}}` : null),
    },
  ],
  check: checkSiteDemand,
};

const priceSignals: InputStream<PriceSignal> = {
  description: "price signals (TOU tariff or spot)",
  topicVariable: "KAFKA_TOPIC_PRICES",
  defaultTopic: "tariff.price.signals",
  table: "price_signals_raw",
  columns: [
    { name: "tariff_id", type: "text", value: (r) => r.tariffId },
    { name: "site_id", type: "text", value: (r) => r.siteId },
    { name: "price_usd_kwh", type: "float8", value: (r) => r.priceUsdKwh },
    { name: "price_tier", type: "text", value: (r) => r.priceTier },
    { name: "valid_from", type: "timestamptz", value: (r) => iso(r.validFrom) },
    { name: "valid_to", type: "timestamptz", value: (r) => iso(r.validTo) },
  ],
  check: checkPriceSignal,
};

const drSignals: InputStream<DemandResponseSignal> = {
  description: "demand-response dispatches",
  topicVariable: "KAFKA_TOPIC_DR",
  defaultTopic: "utility.dr.signals",
  table: "dr_signals_raw",
  columns: [
    { name: "dr_event_id", type: "text", value: (r) => r.drEventId },
    { name: "site_id", type: "text", value: (r) => r.siteId },
    { name: "curtailment_pct", type: "float8", value: (r) => r.curtailmentPct },
    { name: "baseline_kw", type: "float8", value: (r) => r.baselineKw },
    { name: "event_start_ts", type: "timestamptz", value: (r) => iso(r.eventStartTs) },
    { name: "event_end_ts", type: "timestamptz", value: (r) => iso(r.eventEndTs) },
    { name: "signal_ts", type: "timestamptz", value: (r) => iso(r.signalTs) },
  ],
  check: checkDemandResponse,
};

export interface StreamValues {
  sessionSamples: SessionSample;
  siteDemand: SiteDemand;
  priceSignals: PriceSignal;
  drSignals: DemandResponseSignal;
}

export type StreamKind = keyof StreamValues;

export const INPUT_STREAMS: { readonly [K in StreamKind]: InputStream<StreamValues[K]> } = {
  sessionSamples,
  siteDemand,
  priceSignals,
  drSignals,
};

export const STREAM_KINDS = Object.keys(INPUT_STREAMS) as readonly StreamKind[];

/** Every input field of every stream, camelCase (to name fields in a producer's snake_case). */
export const INPUT_FIELDS: readonly string[] = [
  ...new Set(
    STREAM_KINDS.flatMap((kind) => {
      const stream: InputStream<unknown> = INPUT_STREAMS[kind] as InputStream<unknown>;
      return [...stream.columns.map((c) => snakeToCamel(c.name)), ...(stream.inputOnlyFields ?? [])];
    }),
  ),
];
