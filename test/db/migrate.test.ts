import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { isMigrated, loadMigrations, migrate } from "../../src/db/migrate.js";
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
