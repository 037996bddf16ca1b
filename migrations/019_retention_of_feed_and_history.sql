-- Bounded storage for the tables the command feed (013) and the status log (015) added beside
-- the retention list (016): the alert event log and the site history are partitioned and pruned
-- like the outbox and the raw events, and dropping a partition of the outbox or of the alert log
-- moves the feed's horizon (CURSOR_EXPIRED below it; feed_before_drop in sql/080_feed.sql).
INSERT INTO retention_policies (table_name, time_column, setting, before_drop) VALUES
  ('alert_events', 'updated_at', 'commands', 'feed_before_drop'),
  ('site_history', 'ts', 'raw', NULL);
UPDATE retention_policies SET before_drop = 'feed_before_drop' WHERE table_name = 'setpoint_commands';

-- limitedBy: 014 added PHASE_LIMIT and 018 VEHICLE_DRAW, each to the list it knew.
ALTER TABLE setpoints
  DROP CONSTRAINT setpoints_limited_by_values,
  ADD CONSTRAINT setpoints_limited_by_values CHECK (limited_by IN
    ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT', 'DEADLINE',
     'ENERGY_MET', 'VEHICLE_DRAW', 'PHASE_LIMIT', 'SESSION_ENDED'));
