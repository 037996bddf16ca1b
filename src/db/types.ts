// Kysely's view of the tables in migrations/. test/db/types.test.ts fails when they drift apart
// (columns, types, nullability, insert defaults).
import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Created = ColumnType<Date, Date | string | undefined, Date | string>;
type Int8 = ColumnType<string, number | bigint | string, number | bigint | string>;

export type {
  AlertStatus,
  AlertType,
  AllocationPolicy,
  ChargingRateUnit,
  GridPhase,
  OcppVersion,
  PriceTier,
  ProfilePurpose,
  SetpointLimit,
  Source,
} from "../domain.js";

import type {
  AlertStatus,
  AlertType,
  AllocationPolicy,
  ChargingRateUnit,
  GridPhase,
  OcppVersion,
  PriceTier,
  ProfilePurpose,
  RetentionMethod,
  SetpointLimit,
  Source,
} from "../domain.js";

interface KafkaOrigin {
  source: Source;
  kafka_topic: string | null;
  kafka_partition: number | null;
  kafka_offset: Int8 | null;
  received_at: Created;
}

export interface SitesTable {
  site_id: string;
  policy: ColumnType<AllocationPolicy, AllocationPolicy | undefined, AllocationPolicy>;
  min_rate_kw: ColumnType<number, number | undefined, number>;
  factor_off_peak: ColumnType<number, number | undefined, number>;
  factor_mid_peak: ColumnType<number, number | undefined, number>;
  factor_on_peak: ColumnType<number, number | undefined, number>;
  factor_critical_peak: ColumnType<number, number | undefined, number>;
  deviation_threshold_kw: ColumnType<number, number | undefined, number>;
  deviation_grace_s: ColumnType<number, number | undefined, number>;
  deadband_kw: ColumnType<number, number | undefined, number>;
  session_timeout_s: ColumnType<number, number | undefined, number>;
  stale_timeout_s: ColumnType<number, number | undefined, number>;
  reserve_bid_usd_kwh: number | null;
  over_demand_hysteresis_pct: ColumnType<number, number | undefined, number>;
  draw_margin_kw: ColumnType<number, number | undefined, number>;
  draw_margin_pct: ColumnType<number, number | undefined, number>;
  draw_hold_s: ColumnType<number, number | undefined, number>;
  demand_limit_kw: number | null;
  current_demand_kw: number | null;
  ev_load_kw: number | null;
  measured_ts: Date | null;
  building_load_kw: number | null;
  ev_cap_kw: number | null;
  target_kw: number | null;
  price_tier: ColumnType<PriceTier, PriceTier | undefined, PriceTier>;
  price_usd_kwh: ColumnType<number, number | undefined, number>;
  curtailment_pct: ColumnType<number, number | undefined, number>;
  dr_event_id: string | null;
  next_boundary_at: Date | null;
  created_at: Created;
  phase_currents_a: number[] | null;
  phase_limit_a: number | null;
  voltage_v: ColumnType<number, number | undefined, number>;
  ocpp_version: ColumnType<OcppVersion, OcppVersion | undefined, OcppVersion>;
  charging_rate_unit: ColumnType<ChargingRateUnit, ChargingRateUnit | undefined, ChargingRateUnit>;
  phases: ColumnType<number, number | undefined, number>;
  min_current_a: ColumnType<number, number | undefined, number>;
  stack_level: ColumnType<number, number | undefined, number>;
  failsafe_seconds: ColumnType<number, number | undefined, number>;
}

export interface SessionSamplesRawTable extends KafkaOrigin {
  id: Generated<string>;
  session_id: string;
  charge_point_id: string;
  connector_id: number;
  site_id: string;
  id_tag: string | null;
  rated_power_kw: number;
  current_power_kw: number | null;
  soc_pct: number | null;
  energy_kwh: number | null;
  session_start_ts: Timestamp;
  sampled_ts: Timestamp;
  ended_ts: Timestamp | null;
  departure_ts: Timestamp | null;
  requested_energy_kwh: number | null;
  ev_max_kw: number | null;
  ev_min_kw: number | null;
  bid_usd_kwh: number | null;
  priority: number | null;
  phases: number | null;
  phase: GridPhase | null;
  voltage_v: number | null;
  transaction_id: string | null;
}

export interface SiteDemandRawTable extends KafkaOrigin {
  id: Generated<string>;
  site_id: string;
  demand_limit_kw: number;
  current_demand_kw: number;
  ev_load_kw: number;
  measured_ts: Timestamp;
  phase_currents_a: number[] | null;
}

export interface PriceSignalsRawTable extends KafkaOrigin {
  id: Generated<string>;
  tariff_id: string;
  site_id: string;
  price_usd_kwh: number;
  price_tier: PriceTier;
  valid_from: Timestamp;
  valid_to: Timestamp;
}

export interface DrSignalsRawTable extends KafkaOrigin {
  id: Generated<string>;
  dr_event_id: string;
  site_id: string;
  curtailment_pct: number;
  baseline_kw: ColumnType<number, number | undefined, number>;
  event_start_ts: Timestamp;
  event_end_ts: Timestamp;
  signal_ts: Timestamp;
}

export interface SessionEndsRawTable {
  id: Generated<string>;
  session_id: string;
  ended_at: Timestamp;
  source: Source;
  received_at: Created;
}

export interface SessionsTable {
  session_id: string;
  site_id: string;
  charge_point_id: string;
  connector_id: number;
  id_tag: string | null;
  rated_power_kw: number;
  current_power_kw: number | null;
  soc_pct: number | null;
  energy_kwh: number | null;
  session_start_ts: Timestamp;
  sampled_ts: Timestamp;
  ended_at: Timestamp | null;
  end_reason: "ENDED" | "TIMEOUT" | null;
  departure_ts: Timestamp | null;
  requested_energy_kwh: number | null;
  ev_max_kw: number | null;
  ev_min_kw: number | null;
  bid_usd_kwh: number | null;
  priority: number | null;
  phases: number | null;
  phase: GridPhase | null;
  voltage_v: number | null;
  transaction_id: string | null;
  draw_short_since: Timestamp | null;
  draw_short_samples: ColumnType<number, number | undefined, number>;
  draw_cap_kw: number | null;
}

export interface PriceIntervalsTable {
  site_id: string;
  tariff_id: string;
  valid_from: Timestamp;
  valid_to: Timestamp;
  price_usd_kwh: number;
  price_tier: PriceTier;
  received_at: Timestamp;
}

export interface DrEventsTable {
  site_id: string;
  dr_event_id: string;
  curtailment_pct: number;
  baseline_kw: number;
  event_start_ts: Timestamp;
  event_end_ts: Timestamp;
  signal_ts: Timestamp;
}

export interface SetpointsTable {
  session_id: string;
  site_id: string;
  charge_point_id: string;
  connector_id: number;
  setpoint_kw: number;
  commanded_kw: number | null;
  commanded_at: Timestamp | null;
  limited_by: SetpointLimit;
  price_tier: PriceTier;
  curtailment_pct: number;
  updated_at: Timestamp;
}

export interface SetpointCommandsTable {
  seq: Generated<string>;
  command_id: Generated<string>;
  session_id: string;
  site_id: string;
  charge_point_id: string;
  connector_id: number;
  setpoint_kw: number;
  previous_kw: number | null;
  limited_by: SetpointLimit;
  rated_power_kw: number;
  current_power_kw: number | null;
  soc_pct: number | null;
  price_tier: PriceTier;
  curtailment_pct: number;
  command_ts: Timestamp;
  created_at: Created;
  /** Assigned at commit (sql/080_feed.sql); null only inside the writing transaction. */
  cursor: Int8 | null;
  ocpp_version: OcppVersion | null;
  ocpp_request: unknown | null;
}

export interface ChargePointsTable {
  charge_point_id: string;
  site_id: string;
  ocpp_version: OcppVersion | null;
  charging_rate_unit: ChargingRateUnit | null;
  phases: number | null;
  voltage_v: number | null;
  min_current_a: number | null;
  limit_granularity: number | null;
  stack_level: number | null;
  profile_purpose: ProfilePurpose | null;
  failsafe_seconds: number | null;
  updated_at: Created;
}

export interface ConnectorsTable {
  charge_point_id: string;
  connector_id: number;
  site_id: string;
  first_seen_at: Created;
}

export interface SiteFailsafeTable {
  site_id: string;
  cap_kw: number | null;
  fingerprint: string | null;
  profiles: unknown;
  version: ColumnType<string, number | bigint | string | undefined, number | bigint | string>;
  published_version: ColumnType<string, number | bigint | string | undefined, number | bigint | string>;
  updated_at: Timestamp;
}

export interface AlertsTable {
  id: Generated<string>;
  type: AlertType;
  site_id: string;
  session_id: string | null;
  status: AlertStatus;
  raised_at: Timestamp;
  updated_at: Timestamp;
  cleared_at: Timestamp | null;
  message: string;
}

/** One alert raised, changed or cleared (sql/080_feed.sql), numbered from the feed counter. */
export interface AlertEventsTable {
  seq: Generated<string>;
  cursor: Int8 | null;
  alert_id: Int8;
  type: AlertType;
  site_id: string;
  session_id: string | null;
  status: AlertStatus;
  raised_at: Timestamp;
  updated_at: Timestamp;
  cleared_at: Timestamp | null;
  message: string;
  created_at: Created;
}

export interface FeedCounterTable {
  only_row: Generated<boolean>;
  value: Int8;
}

export interface FeedHorizonTable {
  /** "commands" or "alerts" (the two rows migration 013 inserts). */
  feed: string;
  pruned_cursor: Generated<string>;
  updated_at: Created;
}

export interface FeedPositionsTable {
  consumer: string;
  cursor: Int8;
  updated_at: Created;
}

export interface DeadLettersTable {
  id: Generated<string>;
  topic: string;
  partition: number;
  kafka_offset: Int8;
  key: Buffer | null;
  payload: Buffer | null;
  headers: ColumnType<unknown, string | undefined, string>;
  message_ts: Timestamp | null;
  reason: string;
  received_at: Created;
  dlq_published_at: Timestamp | null;
}

export interface ApiKeysTable {
  id: Generated<string>;
  key_hash: string;
  key_prefix: string;
  role: "admin" | "ingest" | "cpms" | "reader";
  sites: string[] | null;
  description: ColumnType<string, string | undefined, string>;
  created_at: Created;
  revoked_at: Timestamp | null;
}

/** Bounded storage (migrations/016): what is kept how long, and the Kafka dedupe marks. */
export interface RetentionPoliciesTable {
  table_name: string;
  time_column: string;
  setting: string;
  method: ColumnType<RetentionMethod, RetentionMethod | undefined, RetentionMethod>;
  before_drop: string | null;
}

export interface KafkaIngestPositionsTable {
  topic: string;
  partition: number;
  next_offset: Int8;
}

export interface ClockSettingTable {
  singleton: ColumnType<boolean, boolean | undefined, boolean>;
  virtual_base: Timestamp;
  real_base: Timestamp;
  speed: ColumnType<number, number | undefined, number>;
}

/** migrations/015: one row per change of a site's figures (sql/080_site_history.sql). */
export interface SiteHistoryTable {
  site_id: string;
  ts: Timestamp;
  demand_kw: number | null;
  building_kw: number | null;
  ev_load_kw: number | null;
  commanded_kw: number;
  limit_kw: number | null;
  ev_cap_kw: number | null;
  target_kw: number | null;
  tier: PriceTier;
  dr_active: boolean;
}

export interface Database {
  clock_setting: ClockSettingTable;
  sites: SitesTable;
  charge_points: ChargePointsTable;
  connectors: ConnectorsTable;
  site_failsafe: SiteFailsafeTable;
  session_samples_raw: SessionSamplesRawTable;
  site_demand_raw: SiteDemandRawTable;
  price_signals_raw: PriceSignalsRawTable;
  dr_signals_raw: DrSignalsRawTable;
  session_ends_raw: SessionEndsRawTable;
  sessions: SessionsTable;
  price_intervals: PriceIntervalsTable;
  dr_events: DrEventsTable;
  setpoints: SetpointsTable;
  setpoint_commands: SetpointCommandsTable;
  alerts: AlertsTable;
  alert_events: AlertEventsTable;
  feed_counter: FeedCounterTable;
  feed_horizon: FeedHorizonTable;
  feed_positions: FeedPositionsTable;
  dead_letters: DeadLettersTable;
  api_keys: ApiKeysTable;
  site_history: SiteHistoryTable;
  retention_policies: RetentionPoliciesTable;
  kafka_ingest_positions: KafkaIngestPositionsTable;
}
