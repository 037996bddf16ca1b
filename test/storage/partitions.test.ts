// The generic partition helpers of sql/080_partitions.sql on a table of their own: the conversion
// keeps data, defaults, checks, indexes, triggers, sequences and foreign keys out, turns uniques
// into uniques with the time column (an expression unique into a plain index), drops foreign keys
// pointing in; ensure_partitions fills gaps around partitions of another width;
// drop_partitions_before calls the before-drop hook with each partition's bounds.
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await t.pool.query(`
    CREATE TABLE pt_parent (code text PRIMARY KEY);
    INSERT INTO pt_parent VALUES ('a'), ('b');
    CREATE TABLE pt_events (
      id bigserial PRIMARY KEY,
      ref uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
      code text NOT NULL REFERENCES pt_parent,
      kind text NOT NULL DEFAULT 'x' CONSTRAINT pt_events_kind_values CHECK (kind IN ('x', 'y')),
      ts timestamptz NOT NULL,
      note text
    );
    CREATE UNIQUE INDEX pt_events_lower_note_idx ON pt_events (lower(note));
    CREATE INDEX pt_events_code_idx ON pt_events (code, ts);
    CREATE TABLE pt_trigger_log (n integer);
    CREATE FUNCTION pt_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO pt_trigger_log SELECT count(*) FROM new_rows; RETURN NULL; END $$;
    CREATE TRIGGER pt_events_ins AFTER INSERT ON pt_events REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION pt_count();
    CREATE TABLE pt_pointing (event_id bigint REFERENCES pt_events (id));
    INSERT INTO pt_events (code, ts, note) VALUES
      ('a', '2030-01-01T10:00Z', 'one'), ('b', '2030-01-03T10:00Z', 'two'), ('a', '2030-01-03T11:00Z', null);
    CREATE TABLE pt_dropped (parent text, lower_bound timestamptz, upper_bound timestamptz);
    CREATE FUNCTION pt_before_drop(p regclass, lo timestamptz, hi timestamptz) RETURNS void
      LANGUAGE sql AS $$ INSERT INTO pt_dropped VALUES (p::text, lo, hi) $$;
  `);
});
afterAll(async () => {
  await t.drop();
});

const rows = async <T>(text: string, params: unknown[] = []) => (await t.pool.query(text, params)).rows as T[];

test("partition_by_range converts in place and keeps what the table had", async () => {
  const before = await rows<{ id: string; ref: string }>("SELECT id, ref FROM pt_events ORDER BY id");
  const notices: string[] = [];
  const client = await t.pool.connect();
  try {
    client.on("notice", (n) => notices.push(n.message ?? ""));
    await client.query("SELECT partition_by_range('pt_events', 'ts', interval '1 day')");
  } finally {
    client.release();
  }
  expect(await rows("SELECT id, ref FROM pt_events ORDER BY id")).toEqual(before);
  // The existing rows in one partition spanning them, and a DEFAULT partition.
  expect(await rows("SELECT lower_bound, upper_bound FROM partition_bounds('pt_events')")).toEqual([
    { lower_bound: new Date("2030-01-01T00:00Z"), upper_bound: new Date("2030-01-04T00:00Z") },
  ]);
  expect((await rows<{ d: string }>("SELECT default_partition('pt_events')::text AS d"))[0]?.d).toBe(
    "pt_events_default",
  );
  const indexes = await rows<{ def: string }>(
    "SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = 'pt_events'::regclass ORDER BY 1",
  );
  expect(indexes.map((i) => i.def.replace(/ USING btree|ONLY |public\./g, ""))).toEqual([
    "CREATE INDEX pt_events_code_idx ON pt_events (code, ts)",
    "CREATE INDEX pt_events_lower_note_idx ON pt_events (lower(note))",
    "CREATE UNIQUE INDEX pt_events_pkey ON pt_events (id, ts)",
    "CREATE UNIQUE INDEX pt_events_ref_key ON pt_events (ref, ts)",
  ]);
  expect(notices.some((n) => n.includes("pt_events_lower_note_idx") && n.includes("plain index"))).toBe(true);
  expect(notices.some((n) => n.includes("pt_pointing_event_id_fkey"))).toBe(true);
  expect(await rows("SELECT conname FROM pg_constraint WHERE conrelid = 'pt_pointing'::regclass")).toEqual([]);
  // Defaults (the sequence continues), the CHECK, the FK out and the trigger work on the new table.
  await t.pool.query("INSERT INTO pt_events (code, ts) VALUES ('b', '2030-01-02T00:00Z'), ('a', '2030-01-02T01:00Z')");
  // The first insert (3 rows) and this one; copying the rows over fired nothing.
  expect(await rows("SELECT n FROM pt_trigger_log")).toEqual([{ n: 3 }, { n: 2 }]);
  const added = await rows<{ id: string; kind: string }>(
    "SELECT id, kind FROM pt_events WHERE ts = '2030-01-02T00:00Z'",
  );
  expect(Number(added[0]?.id)).toBeGreaterThan(3);
  expect(added[0]?.kind).toBe("x");
  await expect(t.pool.query("INSERT INTO pt_events (code, ts, kind) VALUES ('a', now(), 'z')")).rejects.toThrow(
    /pt_events_kind_values/,
  );
  await expect(t.pool.query("INSERT INTO pt_events (code, ts) VALUES ('nope', now())")).rejects.toThrow(/foreign key/);
  // The sequence belongs to the new table.
  expect((await rows<{ s: string }>("SELECT pg_get_serial_sequence('pt_events', 'id') AS s"))[0]?.s).toBe(
    "public.pt_events_id_seq",
  );
  // Converting again does nothing.
  await t.pool.query("SELECT partition_by_range('pt_events', 'ts')");
});

test("ensure_partitions fills the gaps around a partition of another width, without overlap", async () => {
  const created = await rows<{ n: number }>(
    "SELECT ensure_partitions('pt_events', '2029-12-30T12:00Z', '2030-01-06T00:00Z', interval '1 day') AS n",
  );
  expect(created[0]?.n).toBe(4); // Dec 30, Dec 31, Jan 4, Jan 5
  const bounds = await rows<{ lower_bound: Date; upper_bound: Date }>("SELECT * FROM partition_bounds('pt_events')");
  for (let i = 1; i < bounds.length; i++) expect(bounds[i]?.lower_bound).toEqual(bounds[i - 1]?.upper_bound);
  expect(bounds[0]?.lower_bound).toEqual(new Date("2029-12-30T00:00Z"));
  expect(bounds.at(-1)?.upper_bound).toEqual(new Date("2030-01-06T00:00Z"));
});

test("drop_partitions_before drops whole partitions only, calling the hook first", async () => {
  const dropped = await rows<{ partition: string }>(
    "SELECT partition FROM drop_partitions_before('pt_events', '2030-01-04T12:00Z', 'pt_before_drop')",
  );
  // Dec 30, Dec 31 and the Jan 1-4 partition (its upper bound is Jan 4 00:00); Jan 4 stays.
  expect(dropped).toHaveLength(3);
  expect(await rows("SELECT parent, lower_bound, upper_bound FROM pt_dropped ORDER BY lower_bound")).toEqual([
    { parent: "pt_events", lower_bound: new Date("2029-12-30T00:00Z"), upper_bound: new Date("2029-12-31T00:00Z") },
    { parent: "pt_events", lower_bound: new Date("2029-12-31T00:00Z"), upper_bound: new Date("2030-01-01T00:00Z") },
    { parent: "pt_events", lower_bound: new Date("2030-01-01T00:00Z"), upper_bound: new Date("2030-01-04T00:00Z") },
  ]);
  expect(await rows("SELECT count(*)::int AS n FROM pt_events")).toEqual([{ n: 0 }]);
  expect((await rows("SELECT * FROM partition_bounds('pt_events')")).length).toBe(2);
});
