-- SPEC §9: the optional energy and priority inputs of a session sample, on the raw table (every
-- sample as sent) and on sessions (the newest sample's values). All nullable: absent means
-- unknown, never zero. The CHECKs repeat the limits of src/ingest/validate.ts, so a row written
-- by any path (GraphQL, Kafka, a script) keeps them.

ALTER TABLE session_samples_raw
  ADD COLUMN departure_ts timestamptz,
  ADD COLUMN requested_energy_kwh double precision,
  ADD COLUMN ev_max_kw double precision,
  ADD COLUMN ev_min_kw double precision,
  ADD COLUMN bid_usd_kwh double precision,
  ADD COLUMN priority integer,
  ADD CONSTRAINT session_samples_raw_departure_ts_after_session_start CHECK (departure_ts > session_start_ts),
  ADD CONSTRAINT session_samples_raw_requested_energy_kwh_range CHECK (requested_energy_kwh BETWEEN 0 AND 1000),
  ADD CONSTRAINT session_samples_raw_ev_max_kw_range CHECK (ev_max_kw BETWEEN 0 AND 1000000),
  ADD CONSTRAINT session_samples_raw_ev_min_kw_range CHECK (ev_min_kw BETWEEN 0 AND 1000000),
  ADD CONSTRAINT session_samples_raw_ev_min_kw_not_above_ev_max_kw CHECK (ev_min_kw <= ev_max_kw),
  ADD CONSTRAINT session_samples_raw_bid_usd_kwh_range CHECK (bid_usd_kwh BETWEEN 0 AND 100),
  ADD CONSTRAINT session_samples_raw_priority_range CHECK (priority BETWEEN -1000 AND 1000);

ALTER TABLE sessions
  ADD COLUMN departure_ts timestamptz,
  ADD COLUMN requested_energy_kwh double precision,
  ADD COLUMN ev_max_kw double precision,
  ADD COLUMN ev_min_kw double precision,
  ADD COLUMN bid_usd_kwh double precision,
  ADD COLUMN priority integer,
  ADD CONSTRAINT sessions_departure_ts_after_session_start CHECK (departure_ts > session_start_ts),
  ADD CONSTRAINT sessions_requested_energy_kwh_range CHECK (requested_energy_kwh BETWEEN 0 AND 1000),
  ADD CONSTRAINT sessions_ev_max_kw_range CHECK (ev_max_kw BETWEEN 0 AND 1000000),
  ADD CONSTRAINT sessions_ev_min_kw_range CHECK (ev_min_kw BETWEEN 0 AND 1000000),
  ADD CONSTRAINT sessions_ev_min_kw_not_above_ev_max_kw CHECK (ev_min_kw <= ev_max_kw),
  ADD CONSTRAINT sessions_bid_usd_kwh_range CHECK (bid_usd_kwh BETWEEN 0 AND 100),
  ADD CONSTRAINT sessions_priority_range CHECK (priority BETWEEN -1000 AND 1000);
