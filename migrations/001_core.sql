-- Core schema: the clock, per-site settings and state, append-only raw event tables, current
-- state, setpoints, the command outbox and alerts. The rules that compute setpoints live in
-- 002_allocation.sql; the triggers that keep current state in 003_ingest_triggers.sql.

-- ---------------------------------------------------------------------------------------------
-- The one clock. Every time-dependent statement reads app_now(), so tests and the simulator can
-- drive time. With no clock_setting row it is the transaction time; with one, virtual time runs
-- from virtual_base at `speed` times real time (speed 0 stops it).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE clock_setting (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  virtual_base timestamptz NOT NULL,
  real_base timestamptz NOT NULL,
  speed double precision NOT NULL DEFAULT 1 CHECK (speed >= 0)
);

CREATE FUNCTION app_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT c.virtual_base + (now() - c.real_base) * c.speed FROM clock_setting c),
    now())
$$;

-- ---------------------------------------------------------------------------------------------
-- Sites: settings (configureSite), the newest demand sample, and what the last recompute found.
-- A site is created with defaults the first time any event mentions it.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE sites (
  site_id text PRIMARY KEY CHECK (length(site_id) BETWEEN 1 AND 200),
  -- settings
  policy text NOT NULL DEFAULT 'WATER_FILL' CHECK (policy IN ('WATER_FILL', 'EQUAL_SHARE')),
  min_rate_kw double precision NOT NULL DEFAULT 3.0 CHECK (min_rate_kw >= 0),
  factor_off_peak double precision NOT NULL DEFAULT 1.0 CHECK (factor_off_peak BETWEEN 0 AND 1),
  factor_mid_peak double precision NOT NULL DEFAULT 0.8 CHECK (factor_mid_peak BETWEEN 0 AND 1),
  factor_on_peak double precision NOT NULL DEFAULT 0.5 CHECK (factor_on_peak BETWEEN 0 AND 1),
  factor_critical_peak double precision NOT NULL DEFAULT 0.2 CHECK (factor_critical_peak BETWEEN 0 AND 1),
  deviation_threshold_kw double precision NOT NULL DEFAULT 2.0 CHECK (deviation_threshold_kw >= 0),
  deviation_grace_s integer NOT NULL DEFAULT 30 CHECK (deviation_grace_s >= 0),
  deadband_kw double precision NOT NULL DEFAULT 0.5 CHECK (deadband_kw >= 0),
  session_timeout_s integer NOT NULL DEFAULT 300 CHECK (session_timeout_s > 0),
  stale_timeout_s integer NOT NULL DEFAULT 120 CHECK (stale_timeout_s > 0),
  -- newest site demand sample (newest measured_ts wins)
  demand_limit_kw double precision,
  current_demand_kw double precision,
  ev_load_kw double precision,
  measured_ts timestamptz,
  -- written by recompute_sites()
  building_load_kw numeric,
  ev_cap_kw numeric,
  target_kw numeric,
  price_tier text NOT NULL DEFAULT 'OFF_PEAK',
  price_usd_kwh double precision NOT NULL DEFAULT 0.10,
  curtailment_pct double precision NOT NULL DEFAULT 0,
  dr_event_id text,
  next_boundary_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE sites SET (fillfactor = 70);
CREATE INDEX sites_next_boundary_idx ON sites (next_boundary_at) WHERE next_boundary_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Raw events: append-only, one table per stream, for audit and replay. A Kafka row is unique by
-- (topic, partition, offset), so replaying a partition inserts nothing twice.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE session_samples_raw (
  id bigserial PRIMARY KEY,
  session_id text NOT NULL,
  charge_point_id text NOT NULL,
  connector_id integer NOT NULL,
  site_id text NOT NULL,
  id_tag text,
  rated_power_kw double precision NOT NULL,
  current_power_kw double precision,
  soc_pct double precision,
  energy_kwh double precision,
  session_start_ts timestamptz NOT NULL,
  sampled_ts timestamptz NOT NULL,
  ended_ts timestamptz,
  source text NOT NULL CHECK (source IN ('graphql', 'kafka')),
  kafka_topic text,
  kafka_partition integer,
  kafka_offset bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);

CREATE TABLE site_demand_raw (
  id bigserial PRIMARY KEY,
  site_id text NOT NULL,
  demand_limit_kw double precision NOT NULL,
  current_demand_kw double precision NOT NULL,
  ev_load_kw double precision NOT NULL,
  measured_ts timestamptz NOT NULL,
  source text NOT NULL CHECK (source IN ('graphql', 'kafka')),
  kafka_topic text,
  kafka_partition integer,
  kafka_offset bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);

CREATE TABLE price_signals_raw (
  id bigserial PRIMARY KEY,
  tariff_id text NOT NULL,
  site_id text NOT NULL,
  price_usd_kwh double precision NOT NULL,
  price_tier text NOT NULL CHECK (price_tier IN ('OFF_PEAK', 'MID_PEAK', 'ON_PEAK', 'CRITICAL_PEAK')),
  valid_from timestamptz NOT NULL,
  valid_to timestamptz NOT NULL CHECK (valid_to > valid_from),
  source text NOT NULL CHECK (source IN ('graphql', 'kafka')),
  kafka_topic text,
  kafka_partition integer,
  kafka_offset bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);

CREATE TABLE dr_signals_raw (
  id bigserial PRIMARY KEY,
  dr_event_id text NOT NULL,
  site_id text NOT NULL,
  curtailment_pct double precision NOT NULL CHECK (curtailment_pct BETWEEN 0 AND 100),
  baseline_kw double precision NOT NULL DEFAULT 0,
  event_start_ts timestamptz NOT NULL,
  event_end_ts timestamptz NOT NULL CHECK (event_end_ts > event_start_ts),
  signal_ts timestamptz NOT NULL,
  source text NOT NULL CHECK (source IN ('graphql', 'kafka')),
  kafka_topic text,
  kafka_partition integer,
  kafka_offset bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);

CREATE TABLE session_ends_raw (
  id bigserial PRIMARY KEY,
  session_id text NOT NULL,
  ended_at timestamptz NOT NULL,
  source text NOT NULL CHECK (source IN ('graphql', 'kafka')),
  received_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Current state, maintained by the ingest triggers.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE sessions (
  session_id text PRIMARY KEY,
  site_id text NOT NULL REFERENCES sites,
  charge_point_id text NOT NULL,
  connector_id integer NOT NULL,
  id_tag text,
  rated_power_kw double precision NOT NULL,
  current_power_kw double precision,
  soc_pct double precision,
  energy_kwh double precision,
  session_start_ts timestamptz NOT NULL,
  sampled_ts timestamptz NOT NULL,
  -- ENDED: explicit end (sticky); TIMEOUT: no sample within the site's session timeout (a newer
  -- sample revives the session).
  ended_at timestamptz,
  end_reason text CHECK (end_reason IN ('ENDED', 'TIMEOUT')),
  CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
-- Room on each page for HOT updates: every sample rewrites its session row.
ALTER TABLE sessions SET (fillfactor = 70);
CREATE INDEX sessions_active_site_idx ON sessions (site_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_site_idx ON sessions (site_id);

CREATE TABLE price_intervals (
  site_id text NOT NULL REFERENCES sites,
  tariff_id text NOT NULL,
  valid_from timestamptz NOT NULL,
  valid_to timestamptz NOT NULL,
  price_usd_kwh double precision NOT NULL,
  price_tier text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (site_id, tariff_id, valid_from)
);
CREATE INDEX price_intervals_from_idx ON price_intervals (site_id, valid_from);
CREATE INDEX price_intervals_to_idx ON price_intervals (site_id, valid_to);

CREATE TABLE dr_events (
  site_id text NOT NULL REFERENCES sites,
  dr_event_id text NOT NULL,
  curtailment_pct double precision NOT NULL,
  baseline_kw double precision NOT NULL,
  event_start_ts timestamptz NOT NULL,
  event_end_ts timestamptz NOT NULL,
  signal_ts timestamptz NOT NULL,
  PRIMARY KEY (site_id, dr_event_id)
);
CREATE INDEX dr_events_start_idx ON dr_events (site_id, event_start_ts);
CREATE INDEX dr_events_end_idx ON dr_events (site_id, event_end_ts);

-- ---------------------------------------------------------------------------------------------
-- Outputs.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE setpoints (
  session_id text PRIMARY KEY REFERENCES sessions,
  site_id text NOT NULL REFERENCES sites,
  charge_point_id text NOT NULL,
  connector_id integer NOT NULL,
  setpoint_kw numeric(10, 2) NOT NULL CHECK (setpoint_kw >= 0),
  commanded_kw numeric(10, 2),
  commanded_at timestamptz,
  limited_by text NOT NULL CHECK (limited_by IN
    ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT')),
  price_tier text NOT NULL,
  curtailment_pct double precision NOT NULL,
  updated_at timestamptz NOT NULL
);
ALTER TABLE setpoints SET (fillfactor = 70);
CREATE INDEX setpoints_site_idx ON setpoints (site_id);

-- The outbox: one row per command the CPMS must act on. Self-contained, so the change stream
-- never has to query back.
CREATE TABLE setpoint_commands (
  seq bigserial PRIMARY KEY,
  command_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  session_id text NOT NULL,
  site_id text NOT NULL,
  charge_point_id text NOT NULL,
  connector_id integer NOT NULL,
  setpoint_kw numeric(10, 2) NOT NULL,
  previous_kw numeric(10, 2),
  limited_by text NOT NULL,
  rated_power_kw double precision NOT NULL,
  current_power_kw double precision,
  soc_pct double precision,
  price_tier text NOT NULL,
  curtailment_pct double precision NOT NULL,
  command_ts timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX setpoint_commands_session_idx ON setpoint_commands (session_id, seq);

CREATE TABLE alerts (
  id bigserial PRIMARY KEY,
  type text NOT NULL CHECK (type IN
    ('SETPOINT_DEVIATION', 'SITE_OVER_DEMAND', 'CAPACITY_SHORTFALL', 'STALE_SITE_DATA', 'SITE_DATA_MISSING')),
  site_id text NOT NULL REFERENCES sites,
  session_id text,
  status text NOT NULL CHECK (status IN ('ACTIVE', 'CLEARED')),
  raised_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  cleared_at timestamptz,
  message text NOT NULL
);
-- One ACTIVE alert per (type, site, session): it is updated while it holds, never raised twice.
CREATE UNIQUE INDEX alerts_one_active_idx ON alerts (type, site_id, coalesce(session_id, '')) WHERE status = 'ACTIVE';
CREATE INDEX alerts_site_idx ON alerts (site_id, status);
