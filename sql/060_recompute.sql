-- Applying the rule: recompute_sites writes what site_bounds (020) and session_allocation (040)
-- compute (site state, setpoints, the command outbox by the deadband rule), then the alerts (050)
-- and each site's next time boundary. recompute_due_sites is the scheduler's entry point.
--
-- The plan settings (SET ...) were measured in BENCHMARKS.md (bench/proposals/p1, p2; first set
-- by migrations/007_plan_settings.sql, which CREATE OR REPLACE would undo, hence here):
-- * force_generic_plan: PL/pgSQL otherwise re-plans every statement of every trigger call with
--   the literal site array (80 % of a 20-sample batch went to planning); the generic plans use
--   the site_id index scans.
-- * random_page_cost = 1.1: the data is in memory; index probes are cheap. Without it the
--   planner hashes whole tables where a few index probes do.
-- Every plpgsql function in sql/ declares them (test/db/plan-settings.test.ts checks).

-- The next time each site's answer can change with no new event (sites.next_boundary_at).
CREATE OR REPLACE FUNCTION refresh_boundaries(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  earlier_boundaries integer;
BEGIN
  -- A price interval or DR event starting or ending, a session timing out or departing (DEADLINE
  -- needs its rated power from then on; DEADLINE_AT_RISK), site data going stale, a deviation
  -- grace ending: the earliest after t, per site.
  WITH nb AS (
    SELECT st.site_id, st.next_boundary_at AS old_at, least(
      (SELECT min(p.valid_from) FROM price_intervals p WHERE p.site_id = st.site_id AND p.valid_from > t),
      (SELECT min(p.valid_to) FROM price_intervals p WHERE p.site_id = st.site_id AND p.valid_to > t),
      (SELECT min(d.event_start_ts) FROM dr_events d WHERE d.site_id = st.site_id AND d.event_start_ts > t),
      (SELECT min(d.event_end_ts) FROM dr_events d WHERE d.site_id = st.site_id AND d.event_end_ts > t),
      (SELECT min(s.sampled_ts) + make_interval(secs => st.session_timeout_s)
         FROM sessions s WHERE s.site_id = st.site_id AND s.ended_at IS NULL),
      (SELECT min(s.departure_ts) FROM sessions s
         WHERE s.site_id = st.site_id AND s.ended_at IS NULL AND s.departure_ts > t),
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
CREATE OR REPLACE FUNCTION recompute_sites(p_sites text[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
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
  -- row) is issued by the deadband rule (SPEC §3 "Commands and deadband"): on the first setpoint,
  -- on any move to or from 0, and on a rise or fall of at least the site's deadband. A smaller
  -- rise waits. A smaller decrease waits too, unless the site's commanded values would then add
  -- up to more than its hard cap C: then the held-back decreases are issued, largest first,
  -- until the sum fits (it always does once all are issued, as the setpoints add up to at most C).
  WITH computed AS (
    SELECT a.*, sp.setpoint_kw AS old_kw, sp.commanded_kw AS old_commanded_kw,
           sp.limited_by AS old_limited_by, sp.price_tier AS old_price_tier,
           sp.curtailment_pct AS old_curtailment_pct, st.deadband_kw, st.ev_cap_kw
    FROM session_allocation(p_sites, t) a
    JOIN sites st ON st.site_id = a.site_id
    LEFT JOIN setpoints sp ON sp.session_id = a.session_id
  ),
  required AS (
    SELECT computed.*,
           (old_commanded_kw IS NULL
            OR (setpoint_kw = 0) <> (old_commanded_kw = 0)
            OR (setpoint_kw <> old_commanded_kw
                AND abs(setpoint_kw - old_commanded_kw) >= deadband_kw::numeric)) AS required_command
    FROM computed
  ),
  held AS (
    -- What each session's commanded value would be if only the required commands were issued,
    -- the site's excess over C with those values, and each held-back decrease (cut > 0).
    SELECT required.*,
           CASE WHEN required_command THEN setpoint_kw ELSE old_commanded_kw END AS kept_kw,
           CASE WHEN NOT required_command AND setpoint_kw < old_commanded_kw
                THEN old_commanded_kw - setpoint_kw ELSE 0 END AS held_cut
    FROM required
  ),
  ranked AS (
    SELECT held.*,
           sum(kept_kw) OVER (PARTITION BY site_id) - ev_cap_kw AS excess,
           coalesce(sum(held_cut) OVER (PARTITION BY site_id ORDER BY held_cut DESC, session_id
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cut_before
    FROM held
  ),
  decided AS (
    SELECT ranked.*,
           (required_command OR (held_cut > 0 AND cut_before < excess)) AS issues_command
    FROM ranked
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
    RETURNING sp.*
  ),
  -- SPEC §3: a session that ended (explicitly or by timeout) gets one final command at 0 kW,
  -- limitedBy SESSION_ENDED, so the CPMS releases its profile. Its setpoint row is gone, so no
  -- later recompute sends another.
  ended AS (
    SELECT g.session_id, g.site_id, g.charge_point_id, g.connector_id, 0::numeric(10, 2) AS setpoint_kw,
           g.commanded_kw AS old_commanded_kw, 'SESSION_ENDED'::text AS limited_by,
           s.rated_power_kw, s.current_power_kw, s.soc_pct, st.price_tier, st.curtailment_pct,
           NULL::numeric AS setpoint_limit
    FROM gone g
    JOIN sessions s ON s.session_id = g.session_id
    JOIN sites st ON st.site_id = g.site_id
    WHERE s.ended_at IS NOT NULL
  ),
  commands AS (
    INSERT INTO setpoint_commands (session_id, site_id, charge_point_id, connector_id, setpoint_kw,
      previous_kw, limited_by, rated_power_kw, current_power_kw, soc_pct, price_tier, curtailment_pct, command_ts,
      ocpp_version, ocpp_request)
    SELECT c.session_id, c.site_id, c.charge_point_id, c.connector_id, c.setpoint_kw, c.old_commanded_kw,
           c.limited_by, c.rated_power_kw, c.current_power_kw, c.soc_pct, c.price_tier, c.curtailment_pct, t,
           -- [electrical] the SetChargingProfile request, built here once per command (sql/035)
           o.ocpp_version, o.ocpp_request
    FROM (
      SELECT session_id, site_id, charge_point_id, connector_id, setpoint_kw, old_commanded_kw, limited_by,
             rated_power_kw, current_power_kw, soc_pct, price_tier, curtailment_pct, setpoint_limit
      FROM changed
      WHERE issues_command
      UNION ALL
      SELECT * FROM ended
    ) c
    CROSS JOIN LATERAL ocpp_command(c.session_id, c.charge_point_id, c.connector_id, c.site_id, c.setpoint_kw,
                                    c.setpoint_limit, t) o
    ORDER BY c.site_id, c.session_id
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
  PERFORM refresh_failsafe(p_sites, t);  -- [electrical] sql/035
  PERFORM record_site_history(p_sites, t);  -- the status log (sql/080)
END
$$;

-- The scheduler's entry point: recompute every site whose next boundary has been reached.
-- Returns how many sites were recomputed.
CREATE OR REPLACE FUNCTION recompute_due_sites() RETURNS integer
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
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

