-- Ingest triggers: each raw table has one statement-level trigger with a transition table, so a
-- batch of 1,000 samples updates current state in one set-based statement and recomputes each
-- touched site once.

-- Triggers are dropped and created again, so this file can be applied any number of times.

-- Creates the sites an event mentions (with default settings) and locks them in site order, so
-- concurrent batches touching the same sites serialise instead of deadlocking or racing.
CREATE OR REPLACE FUNCTION lock_sites(p_sites text[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  INSERT INTO sites (site_id)
  SELECT s FROM unnest(p_sites) s ORDER BY s
  ON CONFLICT (site_id) DO NOTHING;
  PERFORM 1 FROM sites WHERE site_id = ANY (p_sites) ORDER BY site_id FOR UPDATE;
END
$$;

CREATE OR REPLACE FUNCTION on_session_samples() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  t timestamptz := app_now();
  touched text[];
  reallocate text[];
BEGIN
  SELECT array_agg(DISTINCT site_id ORDER BY site_id) INTO touched FROM new_rows;
  IF touched IS NULL THEN RETURN NULL; END IF;
  PERFORM lock_sites(touched);

  -- Sites whose allocation inputs change: a new or revived session, a session ending, a new
  -- rated power or start time (or site), new energy needs or priority (departure, requested
  -- energy, the vehicle's limits, bid, priority: SPEC §9, nullable, so compared with IS DISTINCT
  -- FROM), the delivered energy reaching the requested energy (or falling back under it), or a
  -- time boundary already reached. Any other meter value (power, SoC, energy) changes no
  -- setpoint, only the alerts.
  -- One primary-key probe per new row (LATERAL ... LIMIT 1), so the check costs O(batch) and
  -- never becomes a hash join over every session of the fleet.
  SELECT array_agg(DISTINCT x.site_id ORDER BY x.site_id) INTO reallocate FROM (
    SELECT site.id AS site_id
    FROM new_rows r
    LEFT JOIN LATERAL (
      SELECT s.session_id, s.site_id, s.sampled_ts, s.ended_at, s.rated_power_kw, s.session_start_ts,
             s.departure_ts, s.requested_energy_kwh, s.ev_max_kw, s.ev_min_kw, s.bid_usd_kwh, s.priority,
             s.energy_kwh, s.phases, s.phase, s.voltage_v
      FROM sessions s WHERE s.session_id = r.session_id LIMIT 1
    ) s ON true
    CROSS JOIN LATERAL unnest(
      CASE WHEN s.site_id <> r.site_id AND r.sampled_ts > s.sampled_ts
           THEN ARRAY[r.site_id, s.site_id] ELSE ARRAY[r.site_id] END) AS site (id)
    WHERE s.session_id IS NULL
       OR (r.sampled_ts > s.sampled_ts
           AND (s.ended_at IS NOT NULL OR r.ended_ts IS NOT NULL OR s.rated_power_kw <> r.rated_power_kw
                OR s.session_start_ts <> r.session_start_ts OR s.site_id <> r.site_id
                OR (s.departure_ts, s.requested_energy_kwh, s.ev_max_kw, s.ev_min_kw, s.bid_usd_kwh, s.priority)
                   IS DISTINCT FROM
                   (r.departure_ts, r.requested_energy_kwh, r.ev_max_kw, r.ev_min_kw, r.bid_usd_kwh, r.priority)
                -- [electrical] the session's phases, grid phase or voltage (sql/035)
                OR (s.phases, s.phase, s.voltage_v) IS DISTINCT FROM (r.phases, r.phase, r.voltage_v)
                -- DEADLINE's ENERGY_MET: the meter value that completes (or reopens) the request
                OR (coalesce(s.energy_kwh, 0) >= s.requested_energy_kwh)
                   IS DISTINCT FROM (coalesce(r.energy_kwh, 0) >= r.requested_energy_kwh)))
    UNION ALL
    SELECT st.site_id FROM sites st
    WHERE st.site_id = ANY (touched) AND (st.next_boundary_at IS NULL OR st.next_boundary_at <= t)
  ) x;

  -- [electrical] a connector seen for the first time: the site's failsafe must cover it, so its
  -- failsafe is rebuilt at the recompute below (sql/035 refresh_failsafe).
  WITH new_connectors AS (
    INSERT INTO connectors (charge_point_id, connector_id, site_id)
    SELECT DISTINCT ON (n.charge_point_id, n.connector_id) n.charge_point_id, n.connector_id, n.site_id
    FROM (
      -- only rows whose session is new or moved connector: one primary-key probe each, no sort
      -- of the whole batch (a batch of known sessions inserts nothing here)
      SELECT r.charge_point_id, r.connector_id, r.site_id, r.sampled_ts
      FROM new_rows r
      WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = r.session_id
                          AND s.charge_point_id = r.charge_point_id AND s.connector_id = r.connector_id)
    ) n
    ORDER BY n.charge_point_id, n.connector_id, n.sampled_ts DESC
    ON CONFLICT (charge_point_id, connector_id) DO NOTHING
    RETURNING site_id
  )
  UPDATE site_failsafe f SET cap_kw = NULL WHERE f.site_id IN (SELECT site_id FROM new_connectors);

  -- The newest sample by its own sampled_ts wins; an older one never overwrites. It wins whole:
  -- an optional field it lacks (NULL) is unknown now, not the last known value (docs/graphql.md).
  -- It also steps the session's draw state (VEHICLE_DRAW, sql/035_vehicle_draw.sql) against its
  -- last command; only an applied (newer) sample does, and a cap that appears, moves or is lifted
  -- reallocates the site.
  WITH newest AS (
    SELECT DISTINCT ON (r.session_id)
           r.session_id, r.site_id, r.charge_point_id, r.connector_id, r.id_tag, r.rated_power_kw,
           r.current_power_kw, r.soc_pct, r.energy_kwh, r.session_start_ts, r.sampled_ts,
           r.ended_ts, CASE WHEN r.ended_ts IS NOT NULL THEN 'ENDED' END AS end_reason,
           r.departure_ts, r.requested_energy_kwh, r.ev_max_kw, r.ev_min_kw, r.bid_usd_kwh, r.priority,
           r.phases, r.phase, r.voltage_v, r.transaction_id
    FROM new_rows r
    ORDER BY r.session_id, r.sampled_ts DESC, r.id DESC
  ),
  stepped AS (
    SELECT n.*, v.short_since, v.short_samples, v.cap_kw, o.draw_cap_kw AS old_cap_kw
    FROM newest n
    JOIN sites st ON st.site_id = n.site_id
    LEFT JOIN sessions o ON o.session_id = n.session_id
    LEFT JOIN setpoints sp ON sp.session_id = n.session_id
    CROSS JOIN LATERAL vehicle_draw_step(o.draw_short_since, coalesce(o.draw_short_samples, 0), o.draw_cap_kw,
      n.current_power_kw, n.sampled_ts, sp.commanded_kw, sp.commanded_at,
      st.draw_margin_kw, st.draw_margin_pct, st.draw_hold_s, st.deadband_kw) v
  ),
  upserted AS (
    INSERT INTO sessions AS s (session_id, site_id, charge_point_id, connector_id, id_tag, rated_power_kw,
      current_power_kw, soc_pct, energy_kwh, session_start_ts, sampled_ts, ended_at, end_reason,
      departure_ts, requested_energy_kwh, ev_max_kw, ev_min_kw, bid_usd_kwh, priority,
      phases, phase, voltage_v, transaction_id, draw_short_since, draw_short_samples, draw_cap_kw)
    SELECT session_id, site_id, charge_point_id, connector_id, id_tag, rated_power_kw,
           current_power_kw, soc_pct, energy_kwh, session_start_ts, sampled_ts, ended_ts, end_reason,
           departure_ts, requested_energy_kwh, ev_max_kw, ev_min_kw, bid_usd_kwh, priority,
           phases, phase, voltage_v, transaction_id, short_since, short_samples, cap_kw
    FROM stepped
    ORDER BY session_id
    ON CONFLICT (session_id) DO UPDATE
    SET site_id = excluded.site_id, charge_point_id = excluded.charge_point_id,
        connector_id = excluded.connector_id, id_tag = excluded.id_tag,
        rated_power_kw = excluded.rated_power_kw, current_power_kw = excluded.current_power_kw,
        soc_pct = excluded.soc_pct, energy_kwh = excluded.energy_kwh,
        session_start_ts = excluded.session_start_ts, sampled_ts = excluded.sampled_ts,
        departure_ts = excluded.departure_ts, requested_energy_kwh = excluded.requested_energy_kwh,
        ev_max_kw = excluded.ev_max_kw, ev_min_kw = excluded.ev_min_kw,
        bid_usd_kwh = excluded.bid_usd_kwh, priority = excluded.priority,
        phases = excluded.phases, phase = excluded.phase, voltage_v = excluded.voltage_v,
        transaction_id = excluded.transaction_id,
        draw_short_since = excluded.draw_short_since, draw_short_samples = excluded.draw_short_samples,
        draw_cap_kw = excluded.draw_cap_kw,
        -- A sample that ends the session ends it; an explicit end is final; a newer sample revives
        -- a session that had only timed out.
        ended_at = CASE WHEN excluded.ended_at IS NOT NULL THEN excluded.ended_at
                        WHEN s.end_reason = 'ENDED' THEN s.ended_at END,
        end_reason = CASE WHEN excluded.ended_at IS NOT NULL THEN 'ENDED'
                          WHEN s.end_reason = 'ENDED' THEN 'ENDED' END
    WHERE s.sampled_ts < excluded.sampled_ts
    RETURNING s.session_id
  )
  SELECT array_agg(DISTINCT x.site_id ORDER BY x.site_id) INTO reallocate
  FROM (
    SELECT unnest(reallocate) AS site_id
    UNION ALL
    SELECT st.site_id FROM stepped st JOIN upserted u ON u.session_id = st.session_id
    WHERE st.cap_kw IS DISTINCT FROM st.old_cap_kw
  ) x;

  PERFORM recompute_sites(reallocate);
  PERFORM refresh_alerts(
    ARRAY(SELECT u FROM unnest(touched) u WHERE u <> ALL (coalesce(reallocate, '{}'))), t);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS session_samples_ingest ON session_samples_raw;
CREATE TRIGGER session_samples_ingest AFTER INSERT ON session_samples_raw
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION on_session_samples();

CREATE OR REPLACE FUNCTION on_site_demand() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  touched text[];
BEGIN
  SELECT array_agg(DISTINCT site_id ORDER BY site_id) INTO touched FROM new_rows;
  IF touched IS NULL THEN RETURN NULL; END IF;
  PERFORM lock_sites(touched);

  -- The newest measurement by measured_ts wins.
  UPDATE sites st
  SET demand_limit_kw = n.demand_limit_kw, current_demand_kw = n.current_demand_kw,
      ev_load_kw = n.ev_load_kw, measured_ts = n.measured_ts,
      phase_currents_a = n.phase_currents_a  -- [electrical]
  FROM (SELECT DISTINCT ON (r.site_id) r.*
        FROM new_rows r ORDER BY r.site_id, r.measured_ts DESC, r.id DESC) n
  WHERE st.site_id = n.site_id AND (st.measured_ts IS NULL OR st.measured_ts < n.measured_ts);

  PERFORM recompute_sites(touched);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS site_demand_ingest ON site_demand_raw;
CREATE TRIGGER site_demand_ingest AFTER INSERT ON site_demand_raw
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION on_site_demand();

CREATE OR REPLACE FUNCTION on_price_signals() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  touched text[];
BEGIN
  SELECT array_agg(DISTINCT site_id ORDER BY site_id) INTO touched FROM new_rows;
  IF touched IS NULL THEN RETURN NULL; END IF;
  PERFORM lock_sites(touched);

  -- One interval per (site, tariff, valid_from); a later signal for it replaces it.
  INSERT INTO price_intervals AS p (site_id, tariff_id, valid_from, valid_to, price_usd_kwh, price_tier, received_at)
  SELECT DISTINCT ON (r.site_id, r.tariff_id, r.valid_from)
         r.site_id, r.tariff_id, r.valid_from, r.valid_to, r.price_usd_kwh, r.price_tier, r.received_at
  FROM new_rows r
  ORDER BY r.site_id, r.tariff_id, r.valid_from, r.id DESC
  ON CONFLICT (site_id, tariff_id, valid_from) DO UPDATE
  SET valid_to = excluded.valid_to, price_usd_kwh = excluded.price_usd_kwh,
      price_tier = excluded.price_tier, received_at = excluded.received_at;

  PERFORM recompute_sites(touched);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS price_signals_ingest ON price_signals_raw;
CREATE TRIGGER price_signals_ingest AFTER INSERT ON price_signals_raw
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION on_price_signals();

CREATE OR REPLACE FUNCTION on_dr_signals() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  touched text[];
BEGIN
  SELECT array_agg(DISTINCT site_id ORDER BY site_id) INTO touched FROM new_rows;
  IF touched IS NULL THEN RETURN NULL; END IF;
  PERFORM lock_sites(touched);

  -- One event per (site, dr_event_id); the newest signal_ts wins.
  INSERT INTO dr_events AS d (site_id, dr_event_id, curtailment_pct, baseline_kw, event_start_ts, event_end_ts, signal_ts)
  SELECT DISTINCT ON (r.site_id, r.dr_event_id)
         r.site_id, r.dr_event_id, r.curtailment_pct, r.baseline_kw, r.event_start_ts, r.event_end_ts, r.signal_ts
  FROM new_rows r
  ORDER BY r.site_id, r.dr_event_id, r.signal_ts DESC, r.id DESC
  ON CONFLICT (site_id, dr_event_id) DO UPDATE
  SET curtailment_pct = excluded.curtailment_pct, baseline_kw = excluded.baseline_kw,
      event_start_ts = excluded.event_start_ts, event_end_ts = excluded.event_end_ts,
      signal_ts = excluded.signal_ts
  WHERE d.signal_ts < excluded.signal_ts;

  PERFORM recompute_sites(touched);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS dr_signals_ingest ON dr_signals_raw;
CREATE TRIGGER dr_signals_ingest AFTER INSERT ON dr_signals_raw
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION on_dr_signals();

CREATE OR REPLACE FUNCTION on_session_ends() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  touched text[];
BEGIN
  SELECT array_agg(DISTINCT s.site_id ORDER BY s.site_id) INTO touched
  FROM new_rows e JOIN sessions s ON s.session_id = e.session_id;
  IF touched IS NULL THEN RETURN NULL; END IF;
  PERFORM lock_sites(touched);

  -- An explicit end is final; the first end recorded wins.
  UPDATE sessions s
  SET ended_at = e.ended_at, end_reason = 'ENDED'
  FROM (SELECT DISTINCT ON (session_id) session_id, ended_at FROM new_rows ORDER BY session_id, id) e
  WHERE s.session_id = e.session_id AND s.end_reason IS DISTINCT FROM 'ENDED';

  PERFORM recompute_sites(touched);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS session_ends_ingest ON session_ends_raw;
CREATE TRIGGER session_ends_ingest AFTER INSERT ON session_ends_raw
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION on_session_ends();

-- configureSite changes settings with a plain UPDATE; the allocation follows in the same
-- transaction. Row-level: settings change rarely, and a column list rules out transition tables.
CREATE OR REPLACE FUNCTION on_site_settings() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  -- [electrical] charge-point defaults change the failsafe too (sql/035 refresh_failsafe)
  UPDATE site_failsafe SET cap_kw = NULL WHERE site_id = NEW.site_id;
  PERFORM recompute_sites(ARRAY[NEW.site_id]);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS site_settings_changed ON sites;
CREATE TRIGGER site_settings_changed AFTER UPDATE OF policy, min_rate_kw, factor_off_peak, factor_mid_peak,
  factor_on_peak, factor_critical_peak, deviation_threshold_kw, deviation_grace_s, deadband_kw,
  session_timeout_s, stale_timeout_s, reserve_bid_usd_kwh,
  phase_limit_a, voltage_v, ocpp_version, charging_rate_unit, phases, min_current_a, stack_level, failsafe_seconds ON sites
FOR EACH ROW EXECUTE FUNCTION on_site_settings();
