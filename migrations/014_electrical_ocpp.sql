-- SPEC §9-§11: the electrical model (phases, phase, voltage, per-phase currents and limits), the
-- charge-point settings (configureChargePoint, with defaults on the site), the OCPP transaction id,
-- the ready-to-send OCPP request on every command, and the failsafe profiles per site.
-- The rules live in sql/035_electrical.sql (bounds, rounding, per-phase filling, the OCPP payload,
-- the failsafe) with small hooks in sql/040, sql/060 and sql/070. docs/ocpp.md describes them.

-- Session samples: the electrical model of the session and its OCPP transaction id. All optional
-- (NULL: unknown, never zero). transaction_id is text: 1.6 sends an integer, 2.0.1 a string of at
-- most 36 characters; the payload builder decides per charge point version.
ALTER TABLE session_samples_raw
  ADD COLUMN phases integer,
  ADD COLUMN phase text,
  ADD COLUMN voltage_v double precision,
  ADD COLUMN transaction_id text,
  ADD CONSTRAINT session_samples_raw_phases_range CHECK (phases BETWEEN 1 AND 3),
  ADD CONSTRAINT session_samples_raw_phase_values CHECK (phase IN ('L1', 'L2', 'L3')),
  ADD CONSTRAINT session_samples_raw_voltage_v_range CHECK (voltage_v BETWEEN 100 AND 1000),
  ADD CONSTRAINT session_samples_raw_transaction_id_length CHECK (length(transaction_id) BETWEEN 1 AND 36);

ALTER TABLE sessions
  ADD COLUMN phases integer,
  ADD COLUMN phase text,
  ADD COLUMN voltage_v double precision,
  ADD COLUMN transaction_id text,
  ADD CONSTRAINT sessions_phases_range CHECK (phases BETWEEN 1 AND 3),
  ADD CONSTRAINT sessions_phase_values CHECK (phase IN ('L1', 'L2', 'L3')),
  ADD CONSTRAINT sessions_voltage_v_range CHECK (voltage_v BETWEEN 100 AND 1000),
  ADD CONSTRAINT sessions_transaction_id_length CHECK (length(transaction_id) BETWEEN 1 AND 36);

-- Site demand: the measured current per grid phase [L1, L2, L3] (building + EV), optional.
ALTER TABLE site_demand_raw
  ADD COLUMN phase_currents_a double precision[],
  ADD CONSTRAINT site_demand_raw_phase_currents_a_shape CHECK (
    cardinality(phase_currents_a) = 3 AND array_position(phase_currents_a, NULL) IS NULL
    AND 0 <= ALL (phase_currents_a) AND 100000 >= ALL (phase_currents_a));

-- Sites: the newest per-phase currents, the per-phase limit, and the charge-point defaults
-- (a configured charge point's unset setting falls back to these).
ALTER TABLE sites
  ADD COLUMN phase_currents_a double precision[],
  ADD COLUMN phase_limit_a double precision,
  ADD COLUMN voltage_v double precision NOT NULL DEFAULT 230,
  ADD COLUMN ocpp_version text NOT NULL DEFAULT 'V16',
  ADD COLUMN charging_rate_unit text NOT NULL DEFAULT 'A',
  ADD COLUMN phases integer NOT NULL DEFAULT 3,
  ADD COLUMN min_current_a double precision NOT NULL DEFAULT 6,
  ADD COLUMN stack_level integer NOT NULL DEFAULT 1,
  ADD COLUMN failsafe_seconds integer NOT NULL DEFAULT 300,
  ADD CONSTRAINT sites_phase_limit_a_range CHECK (phase_limit_a BETWEEN 0 AND 100000),
  ADD CONSTRAINT sites_voltage_v_range CHECK (voltage_v BETWEEN 100 AND 1000),
  ADD CONSTRAINT sites_ocpp_version_values CHECK (ocpp_version IN ('V16', 'V201')),
  ADD CONSTRAINT sites_charging_rate_unit_values CHECK (charging_rate_unit IN ('A', 'W')),
  ADD CONSTRAINT sites_phases_range CHECK (phases BETWEEN 1 AND 3),
  ADD CONSTRAINT sites_min_current_a_range CHECK (min_current_a BETWEEN 0 AND 1000),
  ADD CONSTRAINT sites_stack_level_range CHECK (stack_level BETWEEN 1 AND 1000),
  ADD CONSTRAINT sites_failsafe_seconds_range CHECK (failsafe_seconds BETWEEN 10 AND 604800);

-- configureChargePoint: one row per charge point. A NULL setting means the site's default (above);
-- a NULL limit_granularity means 0.1 for A and 1 for W. A charge point without a row is treated
-- as before this migration (kW, the site's min_rate_kw, 0.01 kW) and commanded in W.
CREATE TABLE charge_points (
  charge_point_id text PRIMARY KEY CHECK (length(charge_point_id) BETWEEN 1 AND 200),
  site_id text NOT NULL REFERENCES sites,
  ocpp_version text,
  charging_rate_unit text,
  phases integer,
  voltage_v double precision,
  min_current_a double precision,
  limit_granularity numeric,
  stack_level integer,
  profile_purpose text,
  failsafe_seconds integer,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT charge_points_ocpp_version_values CHECK (ocpp_version IN ('V16', 'V201')),
  CONSTRAINT charge_points_charging_rate_unit_values CHECK (charging_rate_unit IN ('A', 'W')),
  CONSTRAINT charge_points_phases_range CHECK (phases BETWEEN 1 AND 3),
  CONSTRAINT charge_points_voltage_v_range CHECK (voltage_v BETWEEN 100 AND 1000),
  CONSTRAINT charge_points_min_current_a_range CHECK (min_current_a BETWEEN 0 AND 1000),
  CONSTRAINT charge_points_limit_granularity_multiple CHECK (
    limit_granularity > 0 AND limit_granularity <= 1000 AND mod(limit_granularity, 0.1) = 0),
  CONSTRAINT charge_points_stack_level_range CHECK (stack_level BETWEEN 1 AND 1000),
  CONSTRAINT charge_points_profile_purpose_values CHECK (profile_purpose IN ('AUTO', 'TX_DEFAULT_PROFILE')),
  CONSTRAINT charge_points_failsafe_seconds_range CHECK (failsafe_seconds BETWEEN 10 AND 604800)
);
CREATE INDEX charge_points_site_idx ON charge_points (site_id);

-- Every connector a session was ever seen on, per site: what the failsafe must cover.
CREATE TABLE connectors (
  charge_point_id text NOT NULL,
  connector_id integer NOT NULL,
  site_id text NOT NULL REFERENCES sites,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (charge_point_id, connector_id)
);
CREATE INDEX connectors_site_idx ON connectors (site_id);
INSERT INTO connectors (charge_point_id, connector_id, site_id)
SELECT DISTINCT ON (charge_point_id, connector_id) charge_point_id, connector_id, site_id
FROM sessions ORDER BY charge_point_id, connector_id, sampled_ts DESC;

-- The failsafe of each site (SPEC §11): the TxDefaultProfile limits per connector, rebuilt when
-- the cap, the connectors or the charge-point settings change; version > published_version means
-- the change is not yet on Kafka (src/chargepoints/failsafe-publisher.ts).
CREATE TABLE site_failsafe (
  site_id text PRIMARY KEY REFERENCES sites,
  cap_kw numeric,
  fingerprint text,
  profiles jsonb NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  published_version bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL
);
CREATE INDEX site_failsafe_unpublished_idx ON site_failsafe (site_id) WHERE version > published_version;

-- Every command carries the OCPP version of its charge point and the SetChargingProfile request.
ALTER TABLE setpoint_commands
  ADD COLUMN ocpp_version text,
  ADD COLUMN ocpp_request jsonb,
  ADD CONSTRAINT setpoint_commands_ocpp_version_values CHECK (ocpp_version IN ('V16', 'V201'));

-- limitedBy PHASE_LIMIT: a per-phase limit set the share.
ALTER TABLE setpoints
  DROP CONSTRAINT setpoints_limited_by_values,
  ADD CONSTRAINT setpoints_limited_by_values CHECK (limited_by IN
    ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT', 'DEADLINE',
     'ENERGY_MET', 'PHASE_LIMIT', 'SESSION_ENDED'));
