-- The allocation rule (SPEC §3), alerts (SPEC §4) and time boundaries. The heart of the product.
--
--   site_bounds(sites, now)         rules 1-4: building load B, hard cap C, DR, price tier, target T
--   session_allocation(sites, now)  rules 5-9: bounds, admission, division, rounding, limitedBy
--   recompute_sites(sites)          applies both: setpoints, the command outbox, alerts, the next
--                                   time boundary; writes only rows whose values changed
--   refresh_alerts(sites, t)        alerts only (what a plain meter value can change)
--   refresh_boundaries(sites, t)    each site's next time boundary
--   recompute_due_sites()           what the scheduler calls when a time boundary is reached

-- Rules 1-4, one row per site. Arithmetic in numeric so rounding never lifts a sum over C.
CREATE FUNCTION site_bounds(p_sites text[], p_now timestamptz)
RETURNS TABLE (
  site_id text,
  has_data boolean,
  policy text,
  min_rate_kw numeric,
  building_load_kw numeric,
  ev_cap_kw numeric,
  target_kw numeric,
  price_tier text,
  price_usd_kwh double precision,
  tier_factor numeric,
  curtailment_pct double precision,
  dr_event_id text
)
LANGUAGE sql STABLE AS $$
  SELECT
    st.site_id,
    st.measured_ts IS NOT NULL,
    st.policy,
    st.min_rate_kw::numeric,
    b.building_load_kw,
    cap.ev_cap_kw,
    cap.ev_cap_kw * tier.factor,                    -- rule 4: soft target T = C * factor(tier)
    tier.price_tier,
    tier.price_usd_kwh,
    tier.factor,
    coalesce(dr.curtailment_pct, 0),
    dr.dr_event_id
  FROM sites st
  -- Rule 1: building load B = max(0, current_demand - ev_load). Never the EV load itself: the
  -- tutorial subtracted the whole demand and so chased its own load.
  CROSS JOIN LATERAL (
    SELECT greatest(0, st.current_demand_kw::numeric - st.ev_load_kw::numeric) AS building_load_kw
  ) b
  -- Rule 3: the DR event in force (start <= now < end); the newest signal per site wins.
  LEFT JOIN LATERAL (
    SELECT d.dr_event_id, d.curtailment_pct, d.baseline_kw
    FROM dr_events d
    WHERE d.site_id = st.site_id AND d.event_start_ts <= p_now AND p_now < d.event_end_ts
    ORDER BY d.signal_ts DESC, d.dr_event_id
    LIMIT 1
  ) dr ON true
  -- Rule 2: hard EV cap C = max(0, limit - B), then rule 3's curtailment and baseline.
  CROSS JOIN LATERAL (
    SELECT CASE
      WHEN dr.dr_event_id IS NULL THEN c0
      WHEN dr.baseline_kw > 0 THEN least(
        c0 * (1 - dr.curtailment_pct::numeric / 100),
        greatest(0, dr.baseline_kw::numeric * (1 - dr.curtailment_pct::numeric / 100) - b.building_load_kw))
      ELSE c0 * (1 - dr.curtailment_pct::numeric / 100)
    END AS ev_cap_kw
    FROM (SELECT greatest(0, st.demand_limit_kw::numeric - b.building_load_kw) AS c0) c
  ) cap
  -- Rule 4: the price interval in force (valid_from <= now < valid_to); the newest valid_from
  -- wins; none means OFF_PEAK at 0.10 USD/kWh.
  LEFT JOIN LATERAL (
    SELECT p.price_tier, p.price_usd_kwh
    FROM price_intervals p
    WHERE p.site_id = st.site_id AND p.valid_from <= p_now AND p_now < p.valid_to
    ORDER BY p.valid_from DESC, p.received_at DESC
    LIMIT 1
  ) pr ON true
  CROSS JOIN LATERAL (
    SELECT
      coalesce(pr.price_tier, 'OFF_PEAK') AS price_tier,
      coalesce(pr.price_usd_kwh, 0.10) AS price_usd_kwh,
      (CASE coalesce(pr.price_tier, 'OFF_PEAK')
        WHEN 'OFF_PEAK' THEN st.factor_off_peak
        WHEN 'MID_PEAK' THEN st.factor_mid_peak
        WHEN 'ON_PEAK' THEN st.factor_on_peak
        ELSE st.factor_critical_peak
      END)::numeric AS factor
  ) tier
  WHERE st.site_id = ANY (p_sites)
$$;

-- Rules 5-9, one row per active session of the given sites that have a demand sample.
CREATE FUNCTION session_allocation(p_sites text[], p_now timestamptz)
RETURNS TABLE (
  session_id text,
  site_id text,
  charge_point_id text,
  connector_id integer,
  rated_power_kw double precision,
  current_power_kw double precision,
  soc_pct double precision,
  admitted boolean,
  setpoint_kw numeric,
  limited_by text,
  price_tier text,
  curtailment_pct double precision
)
LANGUAGE sql STABLE AS $$
  WITH bounded AS (
    -- Rule 5: lo_i = min(min_rate, rated_i), hi_i = rated_i.
    SELECT s.session_id, s.site_id, s.charge_point_id, s.connector_id, s.rated_power_kw,
           s.current_power_kw, s.soc_pct, s.session_start_ts,
           least(b.min_rate_kw, s.rated_power_kw::numeric) AS lo,
           s.rated_power_kw::numeric AS hi,
           b.policy, b.ev_cap_kw, b.target_kw, b.tier_factor, b.price_tier, b.curtailment_pct,
           b.dr_event_id
    FROM site_bounds(p_sites, p_now) b
    JOIN sessions s ON s.site_id = b.site_id AND s.ended_at IS NULL AND s.site_id = ANY (p_sites)
    WHERE b.has_data                      -- no demand sample yet: no setpoints (SITE_DATA_MISSING)
  ),
  admission AS (
    -- Rule 6: admit in order of session_start_ts, then session_id, while the running sum of lo
    -- fits under the hard cap C. The first that does not fit, and all after it, get 0.
    SELECT bounded.*,
           sum(lo) OVER (PARTITION BY site_id ORDER BY session_start_ts, session_id) <= ev_cap_kw AS admitted
    FROM bounded
  ),
  amount AS (
    -- Rule 7: divide max(T, sum of admitted lo) among the n admitted sessions.
    SELECT admission.*,
           count(*) FILTER (WHERE admitted) OVER site AS n,
           greatest(target_kw, coalesce(sum(lo) FILTER (WHERE admitted) OVER site, 0)) AS amount
    FROM admission
    WINDOW site AS (PARTITION BY site_id)
  ),
  water_level AS (
    -- WATER_FILL: the level L with sum(clamp(L, lo_i, hi_i)) = amount. As amount >= sum(lo),
    -- L >= min_rate, and there clamp(L, lo_i, hi_i) = min(L, hi_i). Sorted by hi, the k-th
    -- candidate level assumes the k-1 smaller sessions sit at their rated power:
    --   L_k = (amount - sum_{j<k} hi_j) / (n - k + 1).
    -- Saturated sessions (hi_k <= L_k) form a prefix; L is L_k of the first unsaturated one,
    -- which is also the largest L_k among the unsaturated. None unsaturated: all at rated power.
    SELECT amount.*,
           CASE WHEN admitted THEN
             (amount - (sum(hi) OVER by_hi - hi)) / (n - row_number() OVER by_hi + 1)
           END AS level_k
    FROM amount
    WINDOW by_hi AS (PARTITION BY site_id, admitted ORDER BY hi, session_id)
  ),
  shares AS (
    SELECT water_level.*,
           CASE policy
             WHEN 'WATER_FILL' THEN coalesce(
               max(level_k) FILTER (WHERE admitted AND hi > level_k) OVER (PARTITION BY site_id), hi)
             ELSE amount / nullif(n, 0)   -- EQUAL_SHARE: divide by the count (not NULLIF(count, 1))
           END AS share
    FROM water_level
  ),
  exact AS (
    SELECT shares.*,
           CASE WHEN admitted THEN least(hi, greatest(lo, share)) ELSE 0 END AS exact_kw
    FROM shares
  )
  SELECT session_id, site_id, charge_point_id, connector_id, rated_power_kw, current_power_kw, soc_pct,
         admitted,
         -- Rule 8: kW rounded down to 0.01, never negative.
         greatest(0, floor(exact_kw * 100) / 100)::numeric(10, 2),
         -- Rule 9: what bound this setpoint.
         CASE
           WHEN NOT admitted THEN 'NOT_ADMITTED'
           WHEN exact_kw >= hi THEN 'RATED_POWER'
           WHEN exact_kw <= lo THEN 'MIN_RATE'
           WHEN tier_factor < 1 THEN 'PRICE_TIER'
           WHEN dr_event_id IS NOT NULL THEN 'DEMAND_RESPONSE'
           ELSE 'SITE_LIMIT'
         END,
         price_tier, curtailment_pct
  FROM exact
$$;

-- Alerts (SPEC §4) of the given sites at time t.
CREATE FUNCTION refresh_alerts(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
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
    SELECT 'SITE_OVER_DEMAND', st.site_id, NULL,
           format('Site demand %s kW exceeds the demand limit of %s kW',
                  round(st.current_demand_kw::numeric, 1), round(st.demand_limit_kw::numeric, 1))
    FROM sites st
    WHERE st.site_id = ANY (p_sites) AND st.current_demand_kw > st.demand_limit_kw
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

-- The next time each site's answer can change with no new event (sites.next_boundary_at).
CREATE FUNCTION refresh_boundaries(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  earlier_boundaries integer;
BEGIN
  -- A price interval or DR event starting or ending, a session timing out, site data going
  -- stale, a deviation grace ending: the earliest after t, per site.
  WITH nb AS (
    SELECT st.site_id, st.next_boundary_at AS old_at, least(
      (SELECT min(p.valid_from) FROM price_intervals p WHERE p.site_id = st.site_id AND p.valid_from > t),
      (SELECT min(p.valid_to) FROM price_intervals p WHERE p.site_id = st.site_id AND p.valid_to > t),
      (SELECT min(d.event_start_ts) FROM dr_events d WHERE d.site_id = st.site_id AND d.event_start_ts > t),
      (SELECT min(d.event_end_ts) FROM dr_events d WHERE d.site_id = st.site_id AND d.event_end_ts > t),
      (SELECT min(s.sampled_ts) + make_interval(secs => st.session_timeout_s)
         FROM sessions s WHERE s.site_id = st.site_id AND s.ended_at IS NULL),
      CASE WHEN st.measured_ts + make_interval(secs => st.stale_timeout_s) > t
           THEN st.measured_ts + make_interval(secs => st.stale_timeout_s) END,
      (SELECT min(sp.commanded_at) + make_interval(secs => st.deviation_grace_s)
         FROM setpoints sp WHERE sp.site_id = st.site_id
          AND sp.commanded_at + make_interval(secs => st.deviation_grace_s) > t)
    ) AS at
    FROM sites st
    WHERE st.site_id = ANY (p_sites)
  ),
  moved AS (
    UPDATE sites st SET next_boundary_at = nb.at
    FROM nb
    WHERE st.site_id = nb.site_id AND st.next_boundary_at IS DISTINCT FROM nb.at
  )
  SELECT count(*) INTO earlier_boundaries
  FROM nb WHERE nb.at < coalesce(nb.old_at, 'infinity');

  -- Wake the scheduler only when it may be sleeping past a new, earlier boundary.
  IF earlier_boundaries > 0 THEN
    PERFORM pg_notify('scc_boundary', '');
  END IF;
END
$$;

-- Applies the rule to the given sites. Called by the ingest triggers (once per statement, for
-- the sites the statement touched), by configureSite and by the scheduler.
CREATE FUNCTION recompute_sites(p_sites text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz := app_now();
BEGIN
  IF p_sites IS NULL OR cardinality(p_sites) = 0 THEN
    RETURN;
  END IF;

  -- A session without a sample for the site's session timeout stops being active (SPEC §2).
  UPDATE sessions s
  SET ended_at = s.sampled_ts + make_interval(secs => st.session_timeout_s), end_reason = 'TIMEOUT'
  FROM sites st
  WHERE st.site_id = ANY (p_sites) AND s.site_id = ANY (p_sites) AND s.site_id = st.site_id AND s.ended_at IS NULL
    AND s.sampled_ts + make_interval(secs => st.session_timeout_s) <= t;

  -- What the site-level rules found, for queries (Site.evCapKw, targetKw, ...).
  UPDATE sites st
  SET building_load_kw = b.building_load_kw, ev_cap_kw = b.ev_cap_kw, target_kw = b.target_kw,
      price_tier = b.price_tier, price_usd_kwh = b.price_usd_kwh,
      curtailment_pct = b.curtailment_pct, dr_event_id = b.dr_event_id
  FROM site_bounds(p_sites, t) b
  WHERE st.site_id = b.site_id
    AND (st.building_load_kw, st.ev_cap_kw, st.target_kw, st.price_tier, st.price_usd_kwh,
         st.curtailment_pct, st.dr_event_id)
        IS DISTINCT FROM
        (b.building_load_kw, b.ev_cap_kw, b.target_kw, b.price_tier, b.price_usd_kwh,
         b.curtailment_pct, b.dr_event_id);

  -- Setpoints and commands. The setpoint row always holds the computed value; a command (outbox
  -- row) is issued by the deadband rule: on the first setpoint, on any decrease (the cap must
  -- hold), on a rise of at least the site's deadband, and on any move to or from 0.
  WITH computed AS (
    SELECT a.*, sp.setpoint_kw AS old_kw, sp.commanded_kw AS old_commanded_kw,
           sp.limited_by AS old_limited_by, sp.price_tier AS old_price_tier,
           sp.curtailment_pct AS old_curtailment_pct, st.deadband_kw
    FROM session_allocation(p_sites, t) a
    JOIN sites st ON st.site_id = a.site_id
    LEFT JOIN setpoints sp ON sp.session_id = a.session_id
  ),
  decided AS (
    SELECT computed.*,
           (old_commanded_kw IS NULL
            OR setpoint_kw < old_commanded_kw
            OR setpoint_kw >= old_commanded_kw + deadband_kw::numeric
            OR (setpoint_kw = 0) <> (old_commanded_kw = 0)) AS issues_command
    FROM computed
  ),
  changed AS (
    SELECT * FROM decided
    WHERE issues_command
       OR (old_kw, old_limited_by, old_price_tier, old_curtailment_pct)
          IS DISTINCT FROM (setpoint_kw, limited_by, price_tier, curtailment_pct)
  ),
  -- A session that is no longer active (or whose site has no data) has no setpoint.
  gone AS (
    DELETE FROM setpoints sp
    WHERE sp.site_id = ANY (p_sites)
      -- (a session that moved to another site is updated by the upsert below, not deleted)
      AND NOT EXISTS (SELECT 1 FROM computed c WHERE c.session_id = sp.session_id)
  ),
  commands AS (
    INSERT INTO setpoint_commands (session_id, site_id, charge_point_id, connector_id, setpoint_kw,
      previous_kw, limited_by, rated_power_kw, current_power_kw, soc_pct, price_tier, curtailment_pct, command_ts)
    SELECT session_id, site_id, charge_point_id, connector_id, setpoint_kw, old_commanded_kw, limited_by,
           rated_power_kw, current_power_kw, soc_pct, price_tier, curtailment_pct, t
    FROM changed
    WHERE issues_command
    ORDER BY site_id, session_id
  )
  INSERT INTO setpoints AS sp (session_id, site_id, charge_point_id, connector_id, setpoint_kw,
    commanded_kw, commanded_at, limited_by, price_tier, curtailment_pct, updated_at)
  SELECT session_id, site_id, charge_point_id, connector_id, setpoint_kw,
         CASE WHEN issues_command THEN setpoint_kw ELSE old_commanded_kw END,
         CASE WHEN issues_command THEN t END,
         limited_by, price_tier, curtailment_pct, t
  FROM changed
  ORDER BY session_id
  ON CONFLICT (session_id) DO UPDATE
  SET site_id = excluded.site_id, charge_point_id = excluded.charge_point_id,
      connector_id = excluded.connector_id, setpoint_kw = excluded.setpoint_kw,
      commanded_kw = excluded.commanded_kw,
      commanded_at = coalesce(excluded.commanded_at, sp.commanded_at),
      limited_by = excluded.limited_by, price_tier = excluded.price_tier,
      curtailment_pct = excluded.curtailment_pct, updated_at = excluded.updated_at;


  PERFORM refresh_alerts(p_sites, t);
  PERFORM refresh_boundaries(p_sites, t);
END
$$;

-- The scheduler's entry point: recompute every site whose next boundary has been reached.
-- Returns how many sites were recomputed.
CREATE FUNCTION recompute_due_sites() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  due text[];
BEGIN
  SELECT array_agg(site_id ORDER BY site_id) INTO due
  FROM (SELECT site_id FROM sites WHERE next_boundary_at <= app_now()
        ORDER BY site_id FOR UPDATE SKIP LOCKED) s;
  PERFORM recompute_sites(due);
  RETURN coalesce(cardinality(due), 0);
END
$$;

-- Seconds of real time until the next boundary (NULL: none known). Virtual time at speed s
-- reaches a boundary d virtual seconds away after d/s real seconds.
CREATE FUNCTION seconds_to_next_boundary() RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN c.speed = 0 THEN NULL
    ELSE greatest(0, extract(epoch FROM (SELECT min(next_boundary_at) FROM sites) - app_now())) / c.speed
  END
  FROM (SELECT coalesce((SELECT speed FROM clock_setting), 1) AS speed) c
$$;

-- Sets the clock: virtual time `p_at` from now on, running at `p_speed` (1 = real time, 0 = frozen).
-- NULL p_at returns to the real clock.
CREATE FUNCTION set_clock(p_at timestamptz, p_speed double precision DEFAULT 1) RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
  IF p_at IS NULL THEN
    DELETE FROM clock_setting;
  ELSE
    INSERT INTO clock_setting (singleton, virtual_base, real_base, speed)
    VALUES (true, p_at, now(), p_speed)
    ON CONFLICT (singleton) DO UPDATE
    SET virtual_base = excluded.virtual_base, real_base = excluded.real_base, speed = excluded.speed;
  END IF;
  PERFORM pg_notify('scc_boundary', '');
  RETURN app_now();
END
$$;
