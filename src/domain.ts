// The words of the domain, and every enumerated value, listed once. GraphQL enums, validation,
// config and the database types derive from these lists; test/db/enums.test.ts checks them
// against the CHECK constraints in the database.
//
// Glossary
//   site        a grid connection: a contracted demand limit, a building, many charging sessions
//   session     one EV plugged into one connector, reporting meter values (session samples)
//   setpoint    the kW a session may draw now: the allocation rule's output (docs/allocation.md)
//   command     a setpoint change the CPMS must act on: an outbox row, a Kafka message and a
//               setpointChanged event, all mapped from one definition (src/setpoints/command.ts)
//   cap C       a site's hard EV capacity: demand limit minus building load, curtailed by DR
//   target T    the soft amount handed out: min(C, the cap before DR times the price tier's factor)
//   tier        OFF_PEAK, MID_PEAK, ON_PEAK or CRITICAL_PEAK: the price interval in force
//   DR event    a utility demand-response curtailment in force for a time window
//   boundary    a moment the allocation changes with no new event (a price interval or DR event
//               starting or ending, a session or measurement going stale); the scheduler wakes then
//   deadband    the smallest setpoint change worth a command (smaller cuts wait unless the cap needs them)
//   admission   rule 6: when the minimums do not all fit, sessions are admitted by priority
//               (higher first, unknown as 0), then oldest first
//   water level the level L of WATER_FILL: every session gets clamp(L, lo, hi)
//   outbox      the setpoint_commands table: one row per command, read through logical decoding
//   slot        a PostgreSQL replication slot: the position of one reader of the change stream
//   LSN         a position in PostgreSQL's write-ahead log; a slot is acknowledged up to one
//   cursor      a position in the command feed that a consumer can resume from
//   leader      the one instance (advisory lock) that reads the durable slot and feeds Kafka
//   DLQ         dead-letter queue: a bad Kafka message parked in dead_letters and <topic>.dlq
//   charge point a charger with connectors, speaking OCPP 1.6 or 2.0.1; configureChargePoint sets
//               its electrical model (unit, phases, minimum current), defaults on the site
//   phase       a grid phase L1, L2 or L3; a 1-phase session loads one, a 3-phase session all three
//   granularity the step of a charger's limit in its unit (0.1 A, 1 W); limits are rounded down to it
//   failsafe    the TxDefaultProfile limits per connector that keep a site under its cap if the
//               coordinator is lost (installed by the CPMS at a lower stack level)

export const PRICE_TIERS = ["OFF_PEAK", "MID_PEAK", "ON_PEAK", "CRITICAL_PEAK"] as const;
export type PriceTier = (typeof PRICE_TIERS)[number];

export const ALLOCATION_POLICIES = ["WATER_FILL", "EQUAL_SHARE", "DEADLINE", "BID_WEIGHTED"] as const;
export type AllocationPolicy = (typeof ALLOCATION_POLICIES)[number];

export const SETPOINT_LIMITS = [
  "RATED_POWER",
  "MIN_RATE",
  "NOT_ADMITTED",
  "PRICE_TIER",
  "DEMAND_RESPONSE",
  "SITE_LIMIT",
  "DEADLINE",
  "ENERGY_MET",
  "PHASE_LIMIT",
  "VEHICLE_DRAW",
  "SESSION_ENDED",
] as const;
export type SetpointLimit = (typeof SETPOINT_LIMITS)[number];

export const ALERT_TYPES = [
  "SETPOINT_DEVIATION",
  "SITE_OVER_DEMAND",
  "DEADLINE_AT_RISK",
  "CAPACITY_SHORTFALL",
  "STALE_SITE_DATA",
  "SITE_DATA_MISSING",
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const ALERT_STATUSES = ["ACTIVE", "CLEARED"] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const ROLES = ["admin", "ingest", "cpms", "reader"] as const;
export type Role = (typeof ROLES)[number];

export const SOURCES = ["graphql", "kafka"] as const;
export type Source = (typeof SOURCES)[number];

/** OCPP versions a charge point can speak (1.6 and 2.0.1). */
export const OCPP_VERSIONS = ["V16", "V201"] as const;
export type OcppVersion = (typeof OCPP_VERSIONS)[number];

/** The unit of a charge point's limits: A (AC, per phase) or W (DC). */
export const CHARGING_RATE_UNITS = ["A", "W"] as const;
export type ChargingRateUnit = (typeof CHARGING_RATE_UNITS)[number];

export const GRID_PHASES = ["L1", "L2", "L3"] as const;
export type GridPhase = (typeof GRID_PHASES)[number];

/** AUTO: TxProfile when a transaction id is known, else TxDefaultProfile; or always TxDefaultProfile. */
export const PROFILE_PURPOSES = ["AUTO", "TX_DEFAULT_PROFILE"] as const;
export type ProfilePurpose = (typeof PROFILE_PURPOSES)[number];

/** How a bounded table is pruned (retention_policies.method): partitions dropped, or rows deleted. */
export const RETENTION_METHODS = ["drop_partitions", "delete_rows"] as const;
export type RetentionMethod = (typeof RETENTION_METHODS)[number];
