-- The feed cursor (docs/feed.md): every outbox row (setpoint_commands) and every alert event
-- (alert_events) is numbered at COMMIT, in commit order, from the single row of feed_counter.
--
-- How: a DEFERRABLE INITIALLY DEFERRED constraint trigger on each table runs when the writing
-- transaction commits. The first call of the transaction counts the transaction's own unnumbered
-- rows (the only unnumbered rows it can see: every committed row is numbered), takes the row lock
-- of feed_counter by updating it, and numbers them (commands first, then alert events, each in
-- insertion order). The lock is held until the commit is visible, so the next transaction numbers
-- after it: cursor order is commit order, and a reader that sees cursor N sees every cursor below
-- N. The later calls of the same transaction return at once.
--
-- Writers must run at READ COMMITTED (the default): at REPEATABLE READ the counter update after a
-- wait fails with a serialization error, and the transaction has to be retried.
-- enable_nestloop = off: the row counts of a transaction's unnumbered rows are unknown to the
-- planner (estimated at 1), and a nested loop over 20,000 of them is quadratic; a merge join over
-- the partial index is linear.
CREATE OR REPLACE FUNCTION feed_number_rows() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1 SET enable_nestloop = off
AS $$
DECLARE
  n_commands bigint;
  n_alerts bigint;
  base bigint;
BEGIN
  IF current_setting('scc.feed_numbered', true) = 'on' THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('scc.feed_numbered', 'on', true);
  SELECT count(*) INTO n_commands FROM setpoint_commands WHERE cursor IS NULL;
  SELECT count(*) INTO n_alerts FROM alert_events WHERE cursor IS NULL;
  IF n_commands + n_alerts = 0 THEN
    RETURN NULL;
  END IF;
  UPDATE feed_counter SET value = value + n_commands + n_alerts
  RETURNING value - n_commands - n_alerts INTO base;
  IF n_commands > 0 THEN
    UPDATE setpoint_commands c SET cursor = base + n.rn
    FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM setpoint_commands WHERE cursor IS NULL) n
    WHERE c.cursor IS NULL AND c.seq = n.seq;
  END IF;
  IF n_alerts > 0 THEN
    UPDATE alert_events e SET cursor = base + n_commands + n.rn
    FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM alert_events WHERE cursor IS NULL) n
    WHERE e.cursor IS NULL AND e.seq = n.seq;
  END IF;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS setpoint_commands_feed_cursor ON setpoint_commands;
CREATE CONSTRAINT TRIGGER setpoint_commands_feed_cursor
AFTER INSERT ON setpoint_commands
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION feed_number_rows();

DROP TRIGGER IF EXISTS alert_events_feed_cursor ON alert_events;
CREATE CONSTRAINT TRIGGER alert_events_feed_cursor
AFTER INSERT ON alert_events
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION feed_number_rows();

-- The alert event log: every alert row inserted or updated becomes an event (one statement per
-- statement on alerts, from its transition table).
CREATE OR REPLACE FUNCTION alerts_log_events() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  INSERT INTO alert_events (alert_id, type, site_id, session_id, status, raised_at, updated_at, cleared_at, message)
  SELECT id, type, site_id, session_id, status, raised_at, updated_at, cleared_at, message
  FROM changed_alerts
  ORDER BY id;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS alerts_log_inserts ON alerts;
CREATE TRIGGER alerts_log_inserts
AFTER INSERT ON alerts REFERENCING NEW TABLE AS changed_alerts
FOR EACH STATEMENT EXECUTE FUNCTION alerts_log_events();

DROP TRIGGER IF EXISTS alerts_log_updates ON alerts;
CREATE TRIGGER alerts_log_updates
AFTER UPDATE ON alerts REFERENCING NEW TABLE AS changed_alerts
FOR EACH STATEMENT EXECUTE FUNCTION alerts_log_events();

-- Retention: whatever prunes outbox rows or alert events (dropping a partition, a DELETE) calls
-- this with the largest cursor it removed, in the same transaction. A cursor below the horizon
-- may have lost rows after it: the API answers CURSOR_EXPIRED for it, never a silent gap.
-- p_feed: 'commands' (setpoint_commands) or 'alerts' (alert_events). Never moves backwards.
CREATE OR REPLACE FUNCTION advance_feed_horizon(p_feed text, p_cursor bigint) RETURNS bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  result bigint;
BEGIN
  IF p_cursor IS NULL THEN
    SELECT pruned_cursor INTO result FROM feed_horizon WHERE feed = p_feed;
  ELSE
    UPDATE feed_horizon SET pruned_cursor = greatest(pruned_cursor, p_cursor), updated_at = now()
    WHERE feed = p_feed
    RETURNING pruned_cursor INTO result;
  END IF;
  IF result IS NULL THEN
    RAISE EXCEPTION 'advance_feed_horizon: unknown feed %, expected commands or alerts', p_feed;
  END IF;
  RETURN result;
END
$$;

-- The retention job's hook (retention_policies.before_drop, sql/090): before a partition of the
-- outbox or of the alert event log is dropped, the largest cursor in it becomes the feed's horizon.
CREATE OR REPLACE FUNCTION feed_before_drop(p_parent regclass, p_lower timestamptz, p_upper timestamptz)
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  time_column text;
  pruned bigint;
BEGIN
  SELECT r.time_column INTO time_column FROM retention_policies r WHERE r.table_name = p_parent::text;
  EXECUTE format('SELECT max(cursor) FROM %s WHERE %I >= $1 AND %I < $2', p_parent, time_column, time_column)
    INTO pruned USING p_lower, p_upper;
  IF pruned IS NOT NULL THEN
    PERFORM advance_feed_horizon(CASE p_parent::text WHEN 'alert_events' THEN 'alerts' ELSE 'commands' END, pruned);
  END IF;
END
$$;
