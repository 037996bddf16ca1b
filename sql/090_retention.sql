-- Bounded storage (SPEC §13): the retention job and the Kafka deduplication. The partition helpers
-- are in sql/080_partitions.sql, the tables (retention_policies, kafka_ingest_positions) in
-- migrations/016_bounded_storage.sql.

-- One retention pass at the service clock: for every row of retention_policies, partitions are
-- created p_ahead widths ahead, rows that fell into the DEFAULT partition get partitions of their
-- own, and partitions wholly older than the table's retention are dropped (delete_rows tables:
-- rows older than it are deleted). p_days maps each setting to its days; 0 keeps everything.
-- Returns one row per table: partitions created, partitions dropped, rows deleted, bytes freed.
CREATE OR REPLACE FUNCTION run_retention(p_days jsonb, p_width interval, p_ahead integer)
RETURNS TABLE (table_name text, created integer, dropped integer, deleted bigint, freed_bytes bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
-- Creating and dropping partitions locks the table briefly; behind a long transaction the pass
-- gives up (and runs again at the next interval) rather than queueing every writer behind it.
SET lock_timeout = '5s'
AS $$
DECLARE
  t timestamptz := app_now();
  p record;
  days numeric;
  cutoff timestamptz;
  n bigint;
BEGIN
  -- One pass at a time across every instance of the service (partitions are created by name).
  PERFORM pg_advisory_xact_lock(727274016);
  FOR p IN SELECT * FROM retention_policies ORDER BY retention_policies.table_name LOOP
    IF NOT (p_days ? p.setting) THEN
      RAISE EXCEPTION 'run_retention: no retention days given for setting "%" (table %)', p.setting, p.table_name;
    END IF;
    days := (p_days ->> p.setting)::numeric;
    cutoff := CASE WHEN days > 0 THEN t - days * interval '1 day' END;
    table_name := p.table_name;
    created := 0;
    dropped := 0;
    deleted := 0;
    freed_bytes := 0;
    IF p.method = 'drop_partitions' THEN
      -- A table listed after sql/080_partitions.sql last ran is converted here, once.
      IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = p.table_name::regclass) THEN
        PERFORM partition_by_range(p.table_name::regclass, p.time_column, p_width);
      END IF;
      created := adopt_default_rows(p.table_name::regclass, p_width)
        + ensure_partitions(p.table_name::regclass, t, partition_floor(t, p_width) + (p_ahead + 1) * p_width, p_width);
      IF cutoff IS NOT NULL THEN
        SELECT count(*), coalesce(sum(d.bytes), 0) INTO dropped, freed_bytes
        FROM drop_partitions_before(p.table_name::regclass, cutoff, p.before_drop) d;
      END IF;
    ELSIF cutoff IS NOT NULL THEN
      EXECUTE format('DELETE FROM %s WHERE %I < $1', p.table_name::regclass, p.time_column) USING cutoff;
      GET DIAGNOSTICS n = ROW_COUNT;
      deleted := n;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- Claims Kafka positions for storing: returns the ordinals (1-based) of the messages not stored
-- before (offset at or above the topic-partition's mark) and moves the marks past them, holding
-- the marks' row locks until the transaction ends. Called by the ingest insert
-- (src/ingest/ingest.repository.ts) in the statement that stores the batch.
CREATE OR REPLACE FUNCTION claim_kafka_offsets(p_topics text[], p_partitions integer[], p_offsets bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  INSERT INTO kafka_ingest_positions (topic, partition, next_offset)
  SELECT DISTINCT u.t, u.p, 0 FROM unnest(p_topics, p_partitions) AS u (t, p) ORDER BY 1, 2
  ON CONFLICT DO NOTHING;
  PERFORM 1 FROM kafka_ingest_positions k
  WHERE (k.topic, k.partition) IN (SELECT u.t, u.p FROM unnest(p_topics, p_partitions) AS u (t, p))
  ORDER BY k.topic, k.partition FOR UPDATE;
  -- A new statement: it sees the marks as committed by whoever held the locks before.
  RETURN QUERY
  WITH fresh AS (
    SELECT u.n, u.t, u.p, u.o
    FROM unnest(p_topics, p_partitions, p_offsets) WITH ORDINALITY AS u (t, p, o, n)
    JOIN kafka_ingest_positions k ON k.topic = u.t AND k.partition = u.p
    WHERE u.o >= k.next_offset
  ),
  moved AS (
    UPDATE kafka_ingest_positions k SET next_offset = f.top + 1
    FROM (SELECT fresh.t, fresh.p, max(fresh.o) AS top FROM fresh GROUP BY 1, 2) f
    WHERE k.topic = f.t AND k.partition = f.p
  )
  SELECT fresh.n FROM fresh;
END
$$;
