import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isMigrated, loadMigrations, loadRepeatables, MIGRATIONS_DIR, migrate } from "../../src/db/migrate.js";
import { adminQuery, createTestDatabase, type TestDatabase } from "../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

test("the template is fully migrated, and migrating again applies nothing", async () => {
  expect(await isMigrated(t.pool)).toBe(true);
  expect(await migrate(t.pool)).toEqual([]);
  const { rows } = await t.pool.query("SELECT version FROM schema_migrations ORDER BY version");
  expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
});

test("two processes migrating a fresh database at once apply each migration once", async () => {
  const name = `scc_fresh_${Date.now()}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(t.url);
  url.pathname = `/${name}`;
  const { createPool } = await import("../../src/db/pool.js");
  const a = createPool(url.toString(), 2);
  const b = createPool(url.toString(), 2);
  try {
    const [appliedA, appliedB] = await Promise.all([migrate(a), migrate(b)]);
    const all = [...appliedA, ...appliedB].sort((x, y) => x - y);
    expect(all).toEqual((await loadMigrations()).map((m) => m.version));
    expect(await isMigrated(a)).toBe(true);
  } finally {
    await a.end();
    await b.end();
    await adminQuery(`DROP DATABASE ${name} WITH (FORCE)`);
  }
});

test("a failing migration rolls back and names itself; an edited one is refused", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "scc-migrations-"));
  try {
    await writeFile(path.join(dir, "001_ok.sql"), "CREATE TABLE mig_probe (id int);");
    await writeFile(path.join(dir, "002_bad.sql"), "CREATE TABLE mig_probe_2 (id int); SELECT * FROM no_such_table;");
    const name = `scc_mig_${Date.now()}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = new URL(t.url);
    url.pathname = `/${name}`;
    const { createPool } = await import("../../src/db/pool.js");
    const pool = createPool(url.toString(), 1);
    try {
      await expect(migrate(pool, dir)).rejects.toThrow(/migration 2_bad failed/);
      const { rows } = await pool.query("SELECT to_regclass('mig_probe_2') AS t, to_regclass('mig_probe') AS p");
      expect(rows[0]).toEqual({ t: null, p: "mig_probe" });
      await writeFile(path.join(dir, "001_ok.sql"), "CREATE TABLE mig_probe (id bigint);");
      await rm(path.join(dir, "002_bad.sql"));
      await expect(migrate(pool, dir)).rejects.toThrow(/was changed after it was applied/);
    } finally {
      await pool.end();
      await adminQuery(`DROP DATABASE ${name} WITH (FORCE)`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A fresh, empty database of its own for `fn`, dropped after. */
async function withFreshDatabase(fn: (pool: pg.Pool) => Promise<void>): Promise<void> {
  const name = `scc_rep_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(t.url);
  url.pathname = `/${name}`;
  const { createPool } = await import("../../src/db/pool.js");
  const pool = createPool(url.toString(), 2);
  try {
    await fn(pool);
  } finally {
    await pool.end();
    await adminQuery(`DROP DATABASE ${name} WITH (FORCE)`);
  }
}

test("the template has every sql/ file applied at its current checksum", async () => {
  const { rows } = await t.pool.query("SELECT name, checksum FROM schema_repeatables ORDER BY name");
  expect(rows).toEqual((await loadRepeatables()).map((r) => ({ name: r.name, checksum: r.checksum })));
  expect(rows.length).toBeGreaterThan(0);
});

test("every function and trigger in the schema is defined in sql/, where a reader finds the rule", async () => {
  const sources = (await loadRepeatables()).map((r) => r.sql).join("\n");
  const defined = (pattern: RegExp) => [...sources.matchAll(pattern)].map((m) => m[1] as string).sort();
  const functions = await t.pool.query<{ name: string }>(
    `SELECT p.proname AS name FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
     ORDER BY 1`,
  );
  expect(functions.rows.map((r) => r.name)).toEqual(defined(/^CREATE OR REPLACE FUNCTION (\w+)\(/gm));
  const triggers = await t.pool.query<{ name: string }>(
    `SELECT tg.tgname AS name FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
     WHERE c.relnamespace = 'public'::regnamespace AND NOT tg.tgisinternal AND tg.tgparentid = 0 ORDER BY 1`,
  );
  expect(triggers.rows.map((r) => r.name)).toEqual(defined(/^CREATE (?:CONSTRAINT )?TRIGGER (\w+)\s/gm));
  expect(defined(/^DROP TRIGGER IF EXISTS (\w+) /gm)).toEqual(defined(/^CREATE (?:CONSTRAINT )?TRIGGER (\w+)\s/gm));
});

describe("repeatable files (sql/)", () => {
  let root: string;
  let migrations: string;
  let repeatables: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "scc-repeatables-"));
    migrations = path.join(root, "migrations");
    repeatables = path.join(root, "sql");
    await mkdir(migrations);
    await mkdir(repeatables);
    await writeFile(path.join(migrations, "001_log.sql"), "CREATE TABLE rep_log (id serial PRIMARY KEY, file text);");
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const writeRepeatable = (file: string, sql: string) => writeFile(path.join(repeatables, file), sql);
  const log = async (pool: pg.Pool) =>
    (await pool.query<{ file: string }>("SELECT file FROM rep_log ORDER BY id")).rows.map((r) => r.file);

  test("are applied once, again when changed, not when unchanged; a failure rolls back all of them", async () => {
    await writeRepeatable(
      "010_a.sql",
      "CREATE OR REPLACE FUNCTION rep_f() RETURNS int LANGUAGE sql AS 'SELECT 1'; INSERT INTO rep_log (file) VALUES ('a');",
    );
    await writeRepeatable("020_b.sql", "INSERT INTO rep_log (file) VALUES ('b');");
    await withFreshDatabase(async (pool) => {
      // Applied once, in file-name order, after the numbered migrations.
      expect(await migrate(pool, migrations, repeatables)).toEqual([1]);
      expect(await log(pool)).toEqual(["a", "b"]);
      expect(await isMigrated(pool, migrations, repeatables)).toBe(true);

      // Unchanged: not applied again.
      expect(await migrate(pool, migrations, repeatables)).toEqual([]);
      expect(await log(pool)).toEqual(["a", "b"]);

      // Changed: applied again, and only the changed file.
      await writeRepeatable("020_b.sql", "-- edited\nINSERT INTO rep_log (file) VALUES ('b');");
      expect(await isMigrated(pool, migrations, repeatables)).toBe(false);
      await migrate(pool, migrations, repeatables);
      expect(await log(pool)).toEqual(["a", "b", "b"]);

      // Two changed files, the second failing: neither is applied, and the error names the file.
      await writeRepeatable(
        "010_a.sql",
        "CREATE OR REPLACE FUNCTION rep_f() RETURNS int LANGUAGE sql AS 'SELECT 2'; INSERT INTO rep_log (file) VALUES ('a');",
      );
      await writeRepeatable("020_b.sql", "INSERT INTO rep_log (file) VALUES ('b'); SELECT * FROM no_such_table;");
      await expect(migrate(pool, migrations, repeatables)).rejects.toThrow(/repeatable sql\/020_b.sql failed/);
      expect((await pool.query("SELECT rep_f() AS v")).rows[0]).toEqual({ v: 1 });
      expect(await log(pool)).toEqual(["a", "b", "b"]);
      expect(await isMigrated(pool, migrations, repeatables)).toBe(false);

      // Fixed: both apply.
      await writeRepeatable("020_b.sql", "INSERT INTO rep_log (file) VALUES ('b2');");
      await migrate(pool, migrations, repeatables);
      expect((await pool.query("SELECT rep_f() AS v")).rows[0]).toEqual({ v: 2 });
      expect(await log(pool)).toEqual(["a", "b", "b", "a", "b2"]);
      expect(await isMigrated(pool, migrations, repeatables)).toBe(true);
    });
  });

  test("a database migrated before sql/ existed (through 007) is brought up to date", async () => {
    const old = path.join(root, "migrations-007");
    await mkdir(old);
    for (const file of await readdir(MIGRATIONS_DIR)) {
      if (/^00[1-7]_/.test(file)) await copyFile(path.join(MIGRATIONS_DIR, file), path.join(old, file));
    }
    await withFreshDatabase(async (pool) => {
      await migrate(pool, old, null);
      expect((await pool.query("SELECT to_regproc('allocate_water_fill') AS f")).rows[0]).toEqual({ f: null });
      // The same checksums for 001-007: only what is new (008 and later) is applied.
      const newer = (await readdir(MIGRATIONS_DIR))
        .map((file) => Number(/^(\d+)_.*\.sql$/.exec(file)?.[1] ?? 0))
        .filter((version) => version > 7)
        .sort((a, b) => a - b);
      expect(newer).toEqual(expect.arrayContaining([8, 9]));
      expect(await migrate(pool)).toEqual(newer);
      expect(await isMigrated(pool)).toBe(true);
      const { rows } = await pool.query(
        `SELECT p.proname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = 'public'::regnamespace AND l.lanname = 'plpgsql'
           AND NOT (p.proconfig @> ARRAY['plan_cache_mode=force_generic_plan', 'random_page_cost=1.1'])`,
      );
      expect(rows).toEqual([]);
      expect((await pool.query("SELECT to_regproc('allocate_water_fill') AS f")).rows[0]).toEqual({
        f: "allocate_water_fill",
      });
    });
  });
});
