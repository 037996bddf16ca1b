-- Proposal P3: compute the next time boundaries in ONE statement instead of a temp table.
-- refresh_boundaries() runs CREATE TEMP TABLE IF NOT EXISTS (a utility statement, a catalog
-- lookup and a NOTICE on every call), DELETE, INSERT, a count(*) join and an UPDATE over
-- pg_temp.next_boundaries, which has no statistics (the planner guesses), and ON COMMIT DELETE ROWS
-- truncates it at every commit. The same result as one CTE: the count compares with
-- next_boundary_at as it was before the UPDATE (the CTE's snapshot), exactly as before.
-- Same signature and behaviour as refresh_boundaries() in migrations/002_allocation.sql.
CREATE OR REPLACE FUNCTION refresh_boundaries(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  earlier_boundaries integer;
BEGIN
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
