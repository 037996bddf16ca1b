-- The gap-free, resumable feed (docs/feed.md): a cursor on every command and on every alert
-- change, assigned at commit in commit order by the deferred trigger of sql/080_feed.sql.
--
-- feed_counter: one row, the last cursor handed out. A committing transaction that wrote outbox
-- or alert-event rows locks it (UPDATE) and keeps the lock until its commit is visible, so cursors
-- are handed out in commit order and the counter's visible value is the newest committed cursor.
CREATE TABLE feed_counter (
  only_row boolean PRIMARY KEY DEFAULT true CONSTRAINT feed_counter_one_row CHECK (only_row),
  value bigint NOT NULL
);

-- Every command (setpoint_commands, the outbox) gets its cursor at commit. A plain btree index,
-- not UNIQUE: a time-partitioned outbox cannot have a unique index without the partition key
-- (the counter makes cursors unique anyway). The partial index finds a transaction's own
-- unnumbered rows at commit.
ALTER TABLE setpoint_commands ADD COLUMN cursor bigint;
UPDATE setpoint_commands c SET cursor = n.rn
FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM setpoint_commands) n
WHERE c.seq = n.seq;
-- Partial: a row is inserted unnumbered and numbered at commit; only the numbered version is
-- indexed by cursor (a `cursor > $1` condition implies IS NOT NULL, so the planner uses them).
-- The commands of one session are few: they are found by setpoint_commands_session_idx.
CREATE INDEX setpoint_commands_cursor_idx ON setpoint_commands (cursor) WHERE cursor IS NOT NULL;
CREATE INDEX setpoint_commands_site_cursor_idx ON setpoint_commands (site_id, cursor) WHERE cursor IS NOT NULL;
CREATE INDEX setpoint_commands_unnumbered_idx ON setpoint_commands (seq) WHERE cursor IS NULL;

-- The alert event log: one row per alert raised, changed or cleared (written by the triggers of
-- sql/080_feed.sql on alerts), numbered from the same counter as the commands.
CREATE TABLE alert_events (
  seq bigserial PRIMARY KEY,
  cursor bigint,
  alert_id bigint NOT NULL,
  type text NOT NULL,
  site_id text NOT NULL,
  session_id text,
  status text NOT NULL,
  raised_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  cleared_at timestamptz,
  message text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_cursor_idx ON alert_events (cursor) WHERE cursor IS NOT NULL;
CREATE INDEX alert_events_site_cursor_idx ON alert_events (site_id, cursor) WHERE cursor IS NOT NULL;
CREATE INDEX alert_events_unnumbered_idx ON alert_events (seq) WHERE cursor IS NULL;

-- The current state of every alert is its first event.
INSERT INTO alert_events (cursor, alert_id, type, site_id, session_id, status, raised_at, updated_at, cleared_at, message)
SELECT (SELECT count(*) FROM setpoint_commands) + row_number() OVER (ORDER BY id),
       id, type, site_id, session_id, status, raised_at, updated_at, cleared_at, message
FROM alerts;

INSERT INTO feed_counter (value)
SELECT (SELECT count(*) FROM setpoint_commands) + (SELECT count(*) FROM alert_events);

-- The largest cursor whose rows may have been pruned, per feed: a cursor below it is
-- CURSOR_EXPIRED. Raised by advance_feed_horizon() (sql/080_feed.sql) when rows are pruned.
CREATE TABLE feed_horizon (
  -- 'commands' (setpoint_commands) or 'alerts' (alert_events): the two rows inserted below.
  feed text PRIMARY KEY,
  pruned_cursor bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO feed_horizon (feed) VALUES ('commands'), ('alerts');

-- Where a consumer that keeps its own position (the Kafka command publisher) has got to: the
-- cursor of the last command it handed on and had acknowledged.
CREATE TABLE feed_positions (
  consumer text PRIMARY KEY,
  cursor bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- The command topic of an existing installation goes on from here (its durable slot is dropped).
INSERT INTO feed_positions (consumer, cursor) SELECT 'kafka:ocpp.setpoint.commands', value FROM feed_counter;

-- The live change stream reads the numbered rows: the outbox and the alert event log.
ALTER PUBLICATION scc_changes ADD TABLE alert_events;
ALTER PUBLICATION scc_changes DROP TABLE alerts;
