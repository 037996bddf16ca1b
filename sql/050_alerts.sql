-- SPEC §4: the alerts of the given sites at time t. recompute_sites (060) calls it after the
-- setpoints are written; the session-sample trigger (070) calls it alone for sites whose
-- allocation a plain meter value cannot change.

CREATE OR REPLACE FUNCTION refresh_alerts(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  IF p_sites IS NULL OR cardinality(p_sites) = 0 THEN
    RETURN;
  END IF;
  -- Alerts (SPEC §4): raise what holds and is not active, update the message of what still holds,
  -- clear what no longer holds. One ACTIVE alert per (type, site, session).
  WITH holding (type, site_id, session_id, message) AS (
    SELECT 'SITE_DATA_MISSING', st.site_id, NULL::text,
           format('Site %s has active sessions but no site demand sample: no setpoints are issued', st.site_id)
    FROM sites st
    WHERE st.site_id = ANY (p_sites) AND st.measured_ts IS NULL
      AND EXISTS (SELECT 1 FROM sessions s WHERE s.site_id = st.site_id AND s.ended_at IS NULL)
    UNION ALL
    -- Compared before any clamping: the tutorial clamped headroom at 0 first, so it never fired.
    -- Hysteresis (SPEC §4): raised above the limit; once active, it holds until demand falls
    -- below limit x (1 - over_demand_hysteresis_pct / 100), so it does not flap.
    SELECT 'SITE_OVER_DEMAND', st.site_id, NULL,
           CASE WHEN st.current_demand_kw > st.demand_limit_kw
             THEN format('Site demand %s kW exceeds the demand limit of %s kW',
                         round(st.current_demand_kw::numeric, 1), round(st.demand_limit_kw::numeric, 1))
             ELSE format('Site demand %s kW is back at or under the demand limit of %s kW, not yet below %s kW (hysteresis %s %%)',
                         round(st.current_demand_kw::numeric, 1), round(st.demand_limit_kw::numeric, 1),
                         round(st.demand_limit_kw::numeric * (1 - st.over_demand_hysteresis_pct::numeric / 100), 2),
                         st.over_demand_hysteresis_pct)
           END
    FROM sites st
    WHERE st.site_id = ANY (p_sites)
      AND (st.current_demand_kw > st.demand_limit_kw
           OR (st.current_demand_kw::numeric
                 >= st.demand_limit_kw::numeric * (1 - st.over_demand_hysteresis_pct::numeric / 100)
               AND EXISTS (SELECT 1 FROM alerts a
                           WHERE a.type = 'SITE_OVER_DEMAND' AND a.site_id = st.site_id
                             AND a.session_id IS NULL AND a.status = 'ACTIVE')))
    UNION ALL
    SELECT 'STALE_SITE_DATA', st.site_id, NULL,
           format('No site demand sample since %s (stale after %s s); the last values are kept',
                  to_char(st.measured_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), st.stale_timeout_s)
    FROM sites st
    WHERE st.site_id = ANY (p_sites) AND st.measured_ts + make_interval(secs => st.stale_timeout_s) <= t
    UNION ALL
    SELECT 'CAPACITY_SHORTFALL', sp.site_id, NULL,
           format('%s session(s) held at 0 kW: their minimum rates do not fit under the site cap', count(*))
    FROM setpoints sp
    WHERE sp.site_id = ANY (p_sites) AND sp.limited_by = 'NOT_ADMITTED'
    GROUP BY sp.site_id
    UNION ALL
    -- SPEC §4/§10, under every policy: a session with a departure and an energy request whose
    -- remaining energy does not fit in the hours left at its current setpoint (0 hours once the
    -- departure has passed). 0.01 kW of slack per hour, for the rounding down of rule 8. Under
    -- DEADLINE, as its needed rate assumes, the rated power in the strictly cheaper published
    -- intervals before departure (cheaper_hours, 020) and the setpoint in the other hours. The
    -- message names no figure that changes with the clock, so it is not rewritten every recompute.
    SELECT 'DEADLINE_AT_RISK', sp.site_id, sp.session_id,
           format('Session %s cannot get its requested %s kWh (%s kWh delivered) by its departure at %s at %s kW',
                  sp.session_id, round(s.requested_energy_kwh::numeric, 2), round(coalesce(s.energy_kwh, 0)::numeric, 2),
                  to_char(s.departure_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), sp.setpoint_kw)
    FROM setpoints sp
    JOIN sessions s ON s.session_id = sp.session_id
    JOIN sites st ON st.site_id = sp.site_id
    CROSS JOIN LATERAL (
      SELECT greatest(0, extract(epoch FROM s.departure_ts - t) / 3600) AS hours_left,
             CASE WHEN st.policy = 'DEADLINE' AND s.departure_ts > t
                  THEN cheaper_hours(s.site_id, t, s.departure_ts, st.price_usd_kwh) ELSE 0 END AS cheaper_h
    ) h
    WHERE sp.site_id = ANY (p_sites) AND s.ended_at IS NULL
      AND s.departure_ts IS NOT NULL AND s.requested_energy_kwh IS NOT NULL
      AND greatest(0, s.requested_energy_kwh - coalesce(s.energy_kwh, 0))::numeric
          > (sp.setpoint_kw + 0.01) * (h.hours_left - h.cheaper_h) + s.rated_power_kw::numeric * h.cheaper_h
    UNION ALL
    SELECT 'SETPOINT_DEVIATION', sp.site_id, sp.session_id,
           format('Session %s draws %s kW against a commanded %s kW', sp.session_id,
                  round(s.current_power_kw::numeric, 1), sp.commanded_kw)
    FROM setpoints sp
    JOIN sessions s ON s.session_id = sp.session_id
    JOIN sites st ON st.site_id = sp.site_id
    WHERE sp.site_id = ANY (p_sites) AND sp.limited_by <> 'NOT_ADMITTED'
      AND sp.commanded_at + make_interval(secs => st.deviation_grace_s) <= t
      -- Judged on a meter value taken after the grace period: a sample from before the command
      -- (or from the seconds the charger needs to follow it) says nothing about compliance.
      AND s.sampled_ts >= sp.commanded_at + make_interval(secs => st.deviation_grace_s)
      AND abs(s.current_power_kw::numeric - sp.commanded_kw) > st.deviation_threshold_kw::numeric
  ),
  cleared AS (
    UPDATE alerts a
    SET status = 'CLEARED', cleared_at = t, updated_at = t
    WHERE a.site_id = ANY (p_sites) AND a.status = 'ACTIVE'
      AND NOT EXISTS (SELECT 1 FROM holding h
                      WHERE h.type = a.type AND h.site_id = a.site_id
                        AND h.session_id IS NOT DISTINCT FROM a.session_id)
  )
  INSERT INTO alerts AS a (type, site_id, session_id, status, raised_at, updated_at, message)
  SELECT type, site_id, session_id, 'ACTIVE', t, t, message FROM holding
  ORDER BY site_id, type, session_id
  ON CONFLICT (type, site_id, coalesce(session_id, '')) WHERE status = 'ACTIVE'
  DO UPDATE SET message = excluded.message, updated_at = excluded.updated_at
  WHERE a.message IS DISTINCT FROM excluded.message;

END
$$;

-- A change of the hysteresis setting re-evaluates the site's alerts at once (the allocation
-- settings recompute the whole site: sql/070_ingest_triggers.sql, site_settings_changed).
CREATE OR REPLACE FUNCTION on_site_alert_settings() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  PERFORM refresh_alerts(ARRAY[NEW.site_id], app_now());
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS site_alert_settings_changed ON sites;
CREATE TRIGGER site_alert_settings_changed AFTER UPDATE OF over_demand_hysteresis_pct ON sites
FOR EACH ROW EXECUTE FUNCTION on_site_alert_settings();
