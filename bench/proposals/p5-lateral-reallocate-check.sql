-- Proposal P5: make the "which sites need a new allocation" check of on_session_samples() cost
-- O(batch) at every fleet size. As migrated it is `new_rows LEFT JOIN sessions` (twice); with a
-- batch of 1,000 samples at 1,000 sites the planner hashes the WHOLE sessions table (Seq Scan of
-- 20,000 rows, twice), at 10,000 sites and batches of 10,000 too (200,000 rows: 18 % of the batch),
-- so the cost of a batch grows with the fleet. Below: the same function (copied from
-- migrations/003_ingest_triggers.sql as of this bench) with only that statement changed to one
-- LATERAL primary-key probe per new row; the second branch (a session that moved to another site)
-- is folded into the same pass.
CREATE OR REPLACE FUNCTION on_session_samples() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz := app_now();
  touched text[];
  reallocate text[];
BEGIN
  SELECT array_agg(DISTINCT site_id ORDER BY site_id) INTO touched FROM new_rows;
  IF touched IS NULL THEN RETURN NULL; END IF;
  PERFORM lock_sites(touched);

  -- Sites whose allocation inputs change: a new or revived session, a session ending, a new
  -- rated power or start time (or site), or a time boundary already reached. A plain meter
  -- value (power, SoC, energy) changes no setpoint, only the deviation alerts.
  -- (P5) One probe of sessions_pkey per new row, whatever the planner thinks of the fleet size:
  -- a LATERAL subquery with LIMIT 1 cannot be turned into a hash join over all sessions.
  SELECT array_agg(DISTINCT x.site_id ORDER BY x.site_id) INTO reallocate FROM (
    SELECT site.id AS site_id
    FROM new_rows r
    LEFT JOIN LATERAL (
      SELECT s.session_id, s.site_id, s.sampled_ts, s.ended_at, s.rated_power_kw, s.session_start_ts
      FROM sessions s WHERE s.session_id = r.session_id LIMIT 1
    ) s ON true
    CROSS JOIN LATERAL unnest(
      CASE WHEN s.site_id <> r.site_id AND r.sampled_ts > s.sampled_ts
           THEN ARRAY[r.site_id, s.site_id] ELSE ARRAY[r.site_id] END) AS site (id)
    WHERE s.session_id IS NULL
       OR (r.sampled_ts > s.sampled_ts
           AND (s.ended_at IS NOT NULL OR r.ended_ts IS NOT NULL OR s.rated_power_kw <> r.rated_power_kw
                OR s.session_start_ts <> r.session_start_ts OR s.site_id <> r.site_id))
    UNION ALL
    SELECT st.site_id FROM sites st
    WHERE st.site_id = ANY (touched) AND (st.next_boundary_at IS NULL OR st.next_boundary_at <= t)
  ) x;

  -- The newest sample by its own sampled_ts wins; an older one never overwrites.
  INSERT INTO sessions AS s (session_id, site_id, charge_point_id, connector_id, id_tag, rated_power_kw,
    current_power_kw, soc_pct, energy_kwh, session_start_ts, sampled_ts, ended_at, end_reason)
  SELECT * FROM (
    SELECT DISTINCT ON (r.session_id)
           r.session_id, r.site_id, r.charge_point_id, r.connector_id, r.id_tag, r.rated_power_kw,
           r.current_power_kw, r.soc_pct, r.energy_kwh, r.session_start_ts, r.sampled_ts,
           r.ended_ts, CASE WHEN r.ended_ts IS NOT NULL THEN 'ENDED' END
    FROM new_rows r
    ORDER BY r.session_id, r.sampled_ts DESC, r.id DESC
  ) newest
  ORDER BY 1
  ON CONFLICT (session_id) DO UPDATE
  SET site_id = excluded.site_id, charge_point_id = excluded.charge_point_id,
      connector_id = excluded.connector_id, id_tag = excluded.id_tag,
      rated_power_kw = excluded.rated_power_kw, current_power_kw = excluded.current_power_kw,
      soc_pct = excluded.soc_pct, energy_kwh = excluded.energy_kwh,
      session_start_ts = excluded.session_start_ts, sampled_ts = excluded.sampled_ts,
      -- A sample that ends the session ends it; an explicit end is final; a newer sample revives
      -- a session that had only timed out.
      ended_at = CASE WHEN excluded.ended_at IS NOT NULL THEN excluded.ended_at
                      WHEN s.end_reason = 'ENDED' THEN s.ended_at END,
      end_reason = CASE WHEN excluded.ended_at IS NOT NULL THEN 'ENDED'
                        WHEN s.end_reason = 'ENDED' THEN 'ENDED' END
  WHERE s.sampled_ts < excluded.sampled_ts;

  PERFORM recompute_sites(reallocate);
  PERFORM refresh_alerts(
    ARRAY(SELECT u FROM unnest(touched) u WHERE u <> ALL (coalesce(reallocate, '{}'))), t);
  RETURN NULL;
END
$$;
