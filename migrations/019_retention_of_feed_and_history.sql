-- Bounded storage for the tables the command feed (013) and the status log (015) added beside
-- the retention list (016): the alert event log and the site history are partitioned and pruned
-- like the outbox and the raw events, and dropping a partition of the outbox or of the alert log
-- moves the feed's horizon (CURSOR_EXPIRED below it; feed_before_drop in sql/080_feed.sql).
INSERT INTO retention_policies (table_name, time_column, setting, before_drop) VALUES
  ('alert_events', 'updated_at', 'commands', 'feed_before_drop'),
  ('site_history', 'ts', 'raw', NULL);
UPDATE retention_policies SET before_drop = 'feed_before_drop' WHERE table_name = 'setpoint_commands';
