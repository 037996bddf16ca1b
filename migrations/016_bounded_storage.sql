-- Bounded storage (SPEC §13): the append-only tables become range-partitioned by a time column;
-- partitions are created ahead and old ones DROPPED by the retention job (src/storage/), never
-- DELETEd. This migration prepares the tables and lists them in retention_policies; the generic
-- helpers and the conversion itself (which keeps the data) are in sql/080_partitions.sql, which
-- converts every listed table that is not partitioned yet.
--
-- The Kafka (topic, partition, offset) uniques of the raw tables are replaced by
-- kafka_ingest_positions below: on a partitioned table a unique must include the partition key,
-- and one that includes the receive time no longer catches a replay. dead_letters keep a plain
-- index on the position and are deduplicated by their insert (src/kafka/dead-letter.repository.ts).

-- ---------------------------------------------------------------------------------------------
-- What is kept how long: one row per bounded table. `setting` names the retention setting
-- (src/storage/retention.ts passes the configured days of each); `before_drop` optionally names
-- a function(parent regclass, lower timestamptz, upper timestamptz) called before a partition is
-- dropped (e.g. to record the newest outbox cursor a feed can no longer serve). `method`
-- delete_rows is for a table that cannot be partitioned (see alerts below).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE retention_policies (
  table_name text PRIMARY KEY,
  time_column text NOT NULL,
  setting text NOT NULL CHECK (setting ~ '^[a-z_]+$'),
  method text NOT NULL DEFAULT 'drop_partitions' CONSTRAINT retention_policies_method_values
    CHECK (method IN ('drop_partitions', 'delete_rows')),
  before_drop text
);

-- ---------------------------------------------------------------------------------------------
-- Kafka deduplication across partitions: the next offset to store per topic-partition. The
-- consumer stores a topic-partition's messages in offset order, one batch per transaction
-- (src/kafka/ingest-consumer.ts), so "offset below the mark" is exactly "stored before"; the row
-- is locked while a batch is stored, so two consumers racing on a rebalance serialise. Bounded by
-- the number of topic-partitions, so it needs no retention. Seeded from the stored rows.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE kafka_ingest_positions (
  topic text NOT NULL,
  partition integer NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (topic, partition)
);
INSERT INTO kafka_ingest_positions (topic, partition, next_offset)
SELECT kafka_topic, kafka_partition, max(kafka_offset) + 1
FROM (SELECT kafka_topic, kafka_partition, kafka_offset FROM session_samples_raw
      UNION ALL SELECT kafka_topic, kafka_partition, kafka_offset FROM site_demand_raw
      UNION ALL SELECT kafka_topic, kafka_partition, kafka_offset FROM price_signals_raw
      UNION ALL SELECT kafka_topic, kafka_partition, kafka_offset FROM dr_signals_raw) o
WHERE kafka_topic IS NOT NULL
GROUP BY 1, 2;

-- Each of these tables has one unique constraint: the Kafka position.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname FROM pg_constraint c
           WHERE c.contype = 'u' AND c.conrelid IN ('session_samples_raw'::regclass, 'site_demand_raw'::regclass,
             'price_signals_raw'::regclass, 'dr_signals_raw'::regclass, 'dead_letters'::regclass) LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
  END LOOP;
END
$$;
CREATE INDEX dead_letters_position_idx ON dead_letters (topic, partition, kafka_offset);

-- The retention clock is the service clock: rows are stamped with app_now(), so a simulation or a
-- test that drives the clock ages them too.
ALTER TABLE session_samples_raw ALTER COLUMN received_at SET DEFAULT app_now();
ALTER TABLE site_demand_raw ALTER COLUMN received_at SET DEFAULT app_now();
ALTER TABLE price_signals_raw ALTER COLUMN received_at SET DEFAULT app_now();
ALTER TABLE dr_signals_raw ALTER COLUMN received_at SET DEFAULT app_now();
ALTER TABLE session_ends_raw ALTER COLUMN received_at SET DEFAULT app_now();
ALTER TABLE dead_letters ALTER COLUMN received_at SET DEFAULT app_now();

-- Adding a table is one line (its time column must be NOT NULL or hold no NULLs; sql/080 converts it).
INSERT INTO retention_policies (table_name, time_column, setting) VALUES
  ('session_samples_raw', 'received_at', 'raw'),
  ('site_demand_raw', 'received_at', 'raw'),
  ('price_signals_raw', 'received_at', 'raw'),
  ('dr_signals_raw', 'received_at', 'raw'),
  ('session_ends_raw', 'received_at', 'raw'),
  ('setpoint_commands', 'command_ts', 'commands'),
  ('dead_letters', 'received_at', 'dead_letters');

-- Alerts stay one plain table: the active alerts are updated in place and found through a partial
-- unique index on an expression (the ON CONFLICT arbiter of refresh_alerts), which a partitioned
-- table cannot have. Cleared alerts are few (one per episode), so they are deleted by cleared_at;
-- an active alert (cleared_at NULL) is never touched.
INSERT INTO retention_policies (table_name, time_column, setting, method)
VALUES ('alerts', 'cleared_at', 'alerts', 'delete_rows');
CREATE INDEX alerts_cleared_at_idx ON alerts (cleared_at) WHERE cleared_at IS NOT NULL;
