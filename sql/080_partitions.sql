-- Bounded storage (SPEC §13): generic helpers for time-partitioned tables, used by the retention
-- job (run_retention, sql/090_retention.sql). Tables are listed in retention_policies
-- (migrations/016_bounded_storage.sql); the last statement here converts each listed table that is
-- not partitioned yet, keeping its data.
--
--   partition_by_range(table, column, width)  converts a plain table in place (data, defaults,
--                                             CHECKs, indexes, triggers, FKs out, publications,
--                                             owned sequences, owner, grants; FKs pointing in are
--                                             dropped, each named in a NOTICE)
--   ensure_partitions(parent, from, to, width) creates the missing partitions covering [from, to)
--   adopt_default_rows(parent, width)         moves rows that landed in the DEFAULT partition into
--                                             partitions of their own (so they can be dropped)
--   drop_partitions_before(parent, ts, hook)  drops every partition wholly before ts, calling the
--                                             optional hook(parent, lower, upper) first
--   add_retention_policy(table, column, setting[, hook[, width]])  converts and registers a table
--
-- A unique constraint (and the primary key) must include the partition key on a partitioned
-- table: it is extended with it (an id from a sequence stays unique in practice); a unique index
-- on expressions becomes a plain index. Each such change is named in a NOTICE.

-- The start of the width-aligned bucket (from the Unix epoch) holding ts.
CREATE OR REPLACE FUNCTION partition_floor(ts timestamptz, width interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_timestamp(floor(extract(epoch FROM ts) / extract(epoch FROM width)) * extract(epoch FROM width))
$$;

-- The range partitions of a parent with their bounds (the DEFAULT partition is left out).
CREATE OR REPLACE FUNCTION partition_bounds(p_parent regclass)
RETURNS TABLE (partition regclass, lower_bound timestamptz, upper_bound timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass, m[1]::timestamptz, m[2]::timestamptz
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                  'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)') AS m
  WHERE i.inhparent = p_parent AND m IS NOT NULL
  ORDER BY 2
$$;

CREATE OR REPLACE FUNCTION default_partition(p_parent regclass) RETURNS regclass
LANGUAGE sql STABLE AS $$
  SELECT p.partdefid::regclass FROM pg_partitioned_table p
  WHERE p.partrelid = p_parent AND p.partdefid <> 0
$$;

CREATE OR REPLACE FUNCTION partition_column(p_parent regclass) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT a.attname::text FROM pg_partitioned_table p
  JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
  WHERE p.partrelid = p_parent
$$;

-- Creates the partition [lower, upper) of p_parent, named <parent>_p<lower as yyyymmddThhmm UTC>.
-- Rows of that range already in the DEFAULT partition are moved into it first.
CREATE OR REPLACE FUNCTION create_partition(p_parent regclass, p_lower timestamptz, p_upper timestamptz) RETURNS regclass
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  nsp text;
  base text;
  name text;
  col text := partition_column(p_parent);
  def regclass := default_partition(p_parent);
  has_rows boolean := false;
BEGIN
  SELECT n.nspname, c.relname INTO nsp, base
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent;
  name := left(base, 45) || '_p' || to_char(p_lower AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS');
  IF def IS NOT NULL THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= $1 AND %I < $2)', def, col, col)
      INTO has_rows USING p_lower, p_upper;
  END IF;
  IF NOT has_rows THEN
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   nsp, name, p_parent, p_lower, p_upper);
  ELSE
    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', nsp, name, p_parent);
    EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
                   def, col, col, nsp, name) USING p_lower, p_upper;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, nsp, name, p_lower, p_upper);
  END IF;
  RETURN format('%I.%I', nsp, name)::regclass;
END
$$;

-- Creates the partitions missing to cover [p_from, p_to), width-aligned, never overlapping an
-- existing one (a partition of another width is kept and the gaps around it filled). Returns how
-- many were created.
CREATE OR REPLACE FUNCTION ensure_partitions(p_parent regclass, p_from timestamptz, p_to timestamptz, p_width interval)
RETURNS integer
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  x timestamptz := partition_floor(p_from, p_width);
  covered timestamptz;
  next_lower timestamptz;
  upper timestamptz;
  created integer := 0;
BEGIN
  IF p_width <= interval '0' THEN
    RAISE EXCEPTION 'ensure_partitions: width must be positive, got %', p_width;
  END IF;
  WHILE x < p_to LOOP
    SELECT b.upper_bound INTO covered FROM partition_bounds(p_parent) b
    WHERE b.lower_bound <= x AND b.upper_bound > x;
    IF covered IS NOT NULL THEN
      x := covered;
      CONTINUE;
    END IF;
    SELECT min(b.lower_bound) INTO next_lower FROM partition_bounds(p_parent) b WHERE b.lower_bound > x;
    upper := partition_floor(x, p_width) + p_width;
    IF next_lower IS NOT NULL AND next_lower < upper THEN upper := next_lower; END IF;
    PERFORM create_partition(p_parent, x, upper);
    created := created + 1;
    x := upper;
  END LOOP;
  RETURN created;
END
$$;

-- Rows in the DEFAULT partition (written while no partition covered their time: a clock set far
-- away, a retention job that did not run) get partitions of their own, one per bucket they fill.
CREATE OR REPLACE FUNCTION adopt_default_rows(p_parent regclass, p_width interval) RETURNS integer
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  def regclass := default_partition(p_parent);
  bucket timestamptz;
  created integer := 0;
BEGIN
  IF def IS NULL THEN RETURN 0; END IF;
  FOR bucket IN EXECUTE format('SELECT DISTINCT partition_floor(%I, $1) FROM %s ORDER BY 1',
                               partition_column(p_parent), def) USING p_width
  LOOP
    created := created + ensure_partitions(p_parent, bucket, bucket + p_width, p_width);
  END LOOP;
  RETURN created;
END
$$;

-- Drops every partition whose upper bound is at or before p_before (DROP TABLE: no row is
-- DELETEd). p_hook, when set, names a function called as hook(parent regclass, lower timestamptz,
-- upper timestamptz) before each drop (e.g. to record the newest cursor a feed can no longer
-- serve). Returns the dropped partitions and their sizes.
CREATE OR REPLACE FUNCTION drop_partitions_before(p_parent regclass, p_before timestamptz, p_hook text DEFAULT NULL)
RETURNS TABLE (partition text, lower_bound timestamptz, upper_bound timestamptz, bytes bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  b record;
BEGIN
  FOR b IN SELECT * FROM partition_bounds(p_parent) pb WHERE pb.upper_bound <= p_before ORDER BY pb.lower_bound LOOP
    IF p_hook IS NOT NULL THEN
      EXECUTE format('SELECT %s($1, $2, $3)', p_hook::regproc) USING p_parent, b.lower_bound, b.upper_bound;
    END IF;
    partition := b.partition::text;
    lower_bound := b.lower_bound;
    upper_bound := b.upper_bound;
    bytes := pg_total_relation_size(b.partition);
    EXECUTE format('DROP TABLE %s', b.partition);
    RETURN NEXT;
  END LOOP;
END
$$;

-- Converts a plain table into one range-partitioned by p_column, in place and keeping its data:
-- the new parent takes the old name, a DEFAULT partition and one partition holding the existing
-- rows ([floor(min), floor(max) + width)), then the old table's indexes, constraints, triggers,
-- publications, sequences, owner and grants. Foreign keys of other tables pointing at it are
-- dropped (a partition that is dropped must not be blocked by, nor cascade into, other tables),
-- each named in a NOTICE. A table already partitioned is left as it is.
CREATE OR REPLACE FUNCTION partition_by_range(p_table regclass, p_column text, p_width interval DEFAULT interval '1 day')
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  nsp text;
  base text;
  qualified text;
  old_name text;
  attnum smallint;
  nullable boolean;
  later text[] := '{}';
  stmt text;
  r record;
  cols text;
  lo timestamptz;
  hi timestamptz;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = p_table) THEN RETURN; END IF;
  SELECT n.nspname, c.relname INTO nsp, base
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
  qualified := format('%I.%I', nsp, base);
  SELECT a.attnum, NOT a.attnotnull INTO attnum, nullable
  FROM pg_attribute a WHERE a.attrelid = p_table AND a.attname = p_column AND NOT a.attisdropped;
  IF attnum IS NULL THEN
    RAISE EXCEPTION 'partition_by_range: % has no column %', qualified, p_column;
  END IF;
  IF nullable THEN
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', qualified, p_column);
  END IF;

  -- Indexes and the constraints they back, re-created on the new parent after the old table is
  -- gone (their names are free again then).
  FOR r IN
    SELECT i.indexrelid, i.indisunique, i.indexprs IS NOT NULL AS has_exprs, i.indpred IS NOT NULL AS partial,
           (attnum = ANY (i.indkey::smallint[])) AS has_key, c.oid AS con_oid, c.conname, c.contype,
           ic.relname AS index_name
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = p_table
    WHERE i.indrelid = p_table
  LOOP
    IF r.contype = 'x' THEN
      RAISE EXCEPTION 'partition_by_range: % has exclusion constraint %; convert it by hand', qualified, r.conname;
    ELSIF r.contype IN ('p', 'u') THEN
      IF r.has_key THEN
        later := later || format('ALTER TABLE %s ADD CONSTRAINT %I %s', qualified, r.conname, pg_get_constraintdef(r.con_oid));
      ELSE
        SELECT string_agg(format('%I', a.attname), ', ' ORDER BY k.ord) INTO cols
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k (num, ord)
        JOIN pg_attribute a ON a.attrelid = p_table AND a.attnum = k.num
        WHERE c.oid = r.con_oid;
        RAISE NOTICE 'partition_by_range: %.% becomes % (%, %): a unique key of a partitioned table includes its partition key',
          base, r.conname, CASE r.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, cols, p_column;
        later := later || format('ALTER TABLE %s ADD CONSTRAINT %I %s (%s, %I)', qualified, r.conname,
                                 CASE r.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, cols, p_column);
      END IF;
    ELSIF r.indisunique AND NOT r.has_key THEN
      IF r.has_exprs THEN
        RAISE NOTICE 'partition_by_range: unique index % on expressions becomes a plain index', r.index_name;
        later := later || regexp_replace(pg_get_indexdef(r.indexrelid), '^CREATE UNIQUE INDEX', 'CREATE INDEX');
      ELSE
        SELECT string_agg(format('%I', a.attname), ', ' ORDER BY k.ord) INTO cols
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey::smallint[]) WITH ORDINALITY AS k (num, ord)
        JOIN pg_attribute a ON a.attrelid = p_table AND a.attnum = k.num
        WHERE i.indexrelid = r.indexrelid;
        RAISE NOTICE 'partition_by_range: unique index % becomes unique on (%, %)', r.index_name, cols, p_column;
        later := later || (format('CREATE UNIQUE INDEX %I ON %s (%s, %I)', r.index_name, qualified, cols, p_column)
          || coalesce(' WHERE ' || pg_get_expr((SELECT indpred FROM pg_index WHERE indexrelid = r.indexrelid), p_table), ''));
      END IF;
    ELSE
      later := later || pg_get_indexdef(r.indexrelid);
    END IF;
  END LOOP;

  -- Foreign keys of this table (LIKE does not copy them).
  FOR r IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
           WHERE c.conrelid = p_table AND c.contype = 'f' LOOP
    later := later || format('ALTER TABLE %s ADD CONSTRAINT %I %s', qualified, r.conname, r.def);
  END LOOP;
  -- Foreign keys pointing in: dropped.
  FOR r IN SELECT c.conname, c.conrelid::regclass AS referencing FROM pg_constraint c
           WHERE c.confrelid = p_table AND c.contype = 'f' AND c.conrelid <> p_table LOOP
    RAISE NOTICE 'partition_by_range: dropping foreign key % of % (it points at %, whose old rows are dropped by retention)',
      r.conname, r.referencing, qualified;
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.referencing, r.conname);
  END LOOP;
  -- Triggers (the statement-level ingest triggers with transition tables work on a partitioned parent).
  FOR r IN SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t WHERE t.tgrelid = p_table AND NOT t.tgisinternal LOOP
    later := later || r.def;
  END LOOP;
  -- Publications: the parent is published under its own name (publish_via_partition_root).
  FOR r IN SELECT p.pubname FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
           WHERE pr.prrelid = p_table LOOP
    later := later || format('ALTER PUBLICATION %I ADD TABLE %s', r.pubname, qualified)
                   || format('ALTER PUBLICATION %I SET (publish_via_partition_root = true)', r.pubname);
  END LOOP;
  IF (SELECT relreplident FROM pg_class WHERE oid = p_table) = 'f' THEN
    later := later || format('ALTER TABLE %s REPLICA IDENTITY FULL', qualified);
  END IF;
  -- Owner and grants.
  later := later || format('ALTER TABLE %s OWNER TO %I', qualified, (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = p_table));
  FOR r IN SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee
           FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = p_table AND a.grantee <> c.relowner LOOP
    later := later || format('GRANT %s ON %s TO %s', r.privilege_type, qualified, r.grantee);
  END LOOP;

  -- The swap.
  old_name := left(base, 50) || '_unpartitioned';
  EXECUTE format('ALTER TABLE %s RENAME TO %I', qualified, old_name);
  EXECUTE format('CREATE TABLE %s (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                 'INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION) PARTITION BY RANGE (%I)',
                 qualified, nsp, old_name, p_column);
  EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', nsp, left(base, 55) || '_default', qualified);
  EXECUTE format('SELECT min(%I), max(%I) FROM %I.%I', p_column, p_column, nsp, old_name) INTO lo, hi;
  IF lo IS NOT NULL THEN
    PERFORM create_partition(qualified::regclass, partition_floor(lo, p_width), partition_floor(hi, p_width) + p_width);
  END IF;
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO cols
  FROM pg_attribute a WHERE a.attrelid = format('%I.%I', nsp, old_name)::regclass AND a.attnum > 0
    AND NOT a.attisdropped AND a.attgenerated = '';
  EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %I.%I', qualified, cols, cols, nsp, old_name);
  -- Sequences the old table owned (bigserial) now belong to the new one; identity columns of the
  -- new table continue after the copied values.
  FOR r IN SELECT s.oid::regclass AS seq, a.attname FROM pg_depend d
           JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
           JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE d.refobjid = format('%I.%I', nsp, old_name)::regclass AND d.deptype = 'a' LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', r.seq, qualified, r.attname);
  END LOOP;
  FOR r IN SELECT a.attname FROM pg_attribute a WHERE a.attrelid = qualified::regclass AND a.attidentity <> '' LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), coalesce((SELECT max(%I) FROM %s), 0) + 1, false)',
                   qualified, r.attname, r.attname, qualified);
  END LOOP;
  EXECUTE format('DROP TABLE %I.%I', nsp, old_name);
  FOREACH stmt IN ARRAY later LOOP
    EXECUTE stmt;
  END LOOP;
END
$$;

-- Registers a table for retention by partition drops, converting it first. One line per table.
CREATE OR REPLACE FUNCTION add_retention_policy(p_table regclass, p_column text, p_setting text, p_before_drop text DEFAULT NULL,
                                     p_width interval DEFAULT interval '1 day') RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  name text := p_table::text;
BEGIN
  PERFORM partition_by_range(p_table, p_column, p_width);
  INSERT INTO retention_policies (table_name, time_column, setting, method, before_drop)
  VALUES (name, p_column, p_setting, 'drop_partitions', p_before_drop)
  ON CONFLICT (table_name) DO UPDATE
  SET time_column = excluded.time_column, setting = excluded.setting, method = excluded.method,
      before_drop = excluded.before_drop;
END
$$;


-- Every listed table is partitioned (a no-op for those already converted).
SELECT partition_by_range(table_name::regclass, time_column)
FROM retention_policies WHERE method = 'drop_partitions' ORDER BY table_name;
