// Two kinds of SQL, applied by one function under one advisory lock:
// * migrations/NNN_name.sql: forward-only, each in its own transaction, recorded in
//   schema_migrations with its checksum; an applied file must never change (tables live here).
// * sql/NNN_name.sql: repeatable (Flyway's R__ files, graphile-migrate's current.sql): the current
//   definitions of the functions and triggers. Applied after the numbered migrations, in file-name
//   order, whenever a file's checksum differs from the one recorded in schema_repeatables; all
//   pending files in one transaction, so the rule is replaced whole or not at all.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MIGRATIONS_DIR = path.join(ROOT, "migrations");
export const REPEATABLE_DIR = path.join(ROOT, "sql");
const LOCK_KEY = 727_274_001;
const FILE_NAME = /^(\d+)_([\w-]+)\.sql$/;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

/** A file of sql/: applied again whenever its checksum changes. `name` is the file name. */
export interface Repeatable {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    if (!match) throw new Error(`migration file name must look like 001_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), "utf8");
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new Error(`duplicate migration number ${version}`);
    migrations.push({ version, name: match[2] ?? file, sql, checksum: sha256(sql) });
  }
  return migrations;
}

/** The repeatable files in the order they apply (by file name). A missing folder holds none. */
export async function loadRepeatables(dir: string | null = REPEATABLE_DIR): Promise<Repeatable[]> {
  if (dir === null) return [];
  const files = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  const repeatables: Repeatable[] = [];
  for (const file of files.filter((f) => f.endsWith(".sql")).sort()) {
    if (!FILE_NAME.test(file)) throw new Error(`repeatable file name must look like 010_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), "utf8");
    repeatables.push({ name: file, sql, checksum: sha256(sql) });
  }
  return repeatables;
}

/**
 * Applies pending migrations, then every repeatable file that is new or changed. Returns the
 * migration versions applied by this call (see schema_repeatables for the repeatable files).
 * `repeatableDir` null applies no repeatable files.
 */
export async function migrate(
  pool: pg.Pool,
  dir = MIGRATIONS_DIR,
  repeatableDir: string | null = REPEATABLE_DIR,
): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  const repeatables = await loadRepeatables(repeatableDir);
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_repeatables (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      "SELECT version, checksum FROM schema_migrations",
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const migration of migrations) {
      const checksum = done.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(`migration ${migration.version}_${migration.name} was changed after it was applied`);
        }
        continue;
      }
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`);
      }
      applied.push(migration.version);
    }
    await applyRepeatables(client, repeatables);
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => {});
    client.release();
  }
  return applied;
}

async function applyRepeatables(client: pg.PoolClient, repeatables: readonly Repeatable[]): Promise<void> {
  const { rows } = await client.query<{ name: string; checksum: string }>(
    "SELECT name, checksum FROM schema_repeatables",
  );
  const done = new Map(rows.map((r) => [r.name, r.checksum]));
  const pending = repeatables.filter((r) => done.get(r.name) !== r.checksum);
  if (pending.length === 0) return;
  await client.query("BEGIN");
  let current = "";
  try {
    for (const repeatable of pending) {
      current = repeatable.name;
      await client.query(repeatable.sql);
      await client.query(
        `INSERT INTO schema_repeatables (name, checksum) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()`,
        [repeatable.name, repeatable.checksum],
      );
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw new Error(`repeatable sql/${current} failed: ${(error as Error).message}`);
  }
}

/** True when every migration file has been applied and every repeatable file is current. */
export async function isMigrated(
  pool: pg.Pool,
  dir = MIGRATIONS_DIR,
  repeatableDir: string | null = REPEATABLE_DIR,
): Promise<boolean> {
  const migrations = await loadMigrations(dir);
  const repeatables = await loadRepeatables(repeatableDir);
  const { rows } = await pool
    .query<{ version: number }>(
      "SELECT version FROM schema_migrations WHERE to_regclass('schema_migrations') IS NOT NULL",
    )
    .catch(() => ({ rows: [] as { version: number }[] }));
  const done = new Set(rows.map((r) => r.version));
  if (!migrations.every((m) => done.has(m.version))) return false;
  if (repeatables.length === 0) return true;
  const current = await pool
    .query<{ name: string; checksum: string }>("SELECT name, checksum FROM schema_repeatables")
    .catch(() => ({ rows: [] as { name: string; checksum: string }[] }));
  const checksums = new Map(current.rows.map((r) => [r.name, r.checksum]));
  return repeatables.every((r) => checksums.get(r.name) === r.checksum);
}
