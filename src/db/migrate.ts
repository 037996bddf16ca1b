// Forward-only SQL migrations: numbered files in migrations/, each in its own transaction,
// recorded in schema_migrations, serialised across processes by an advisory lock.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../migrations");
const LOCK_KEY = 727_274_001;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d+)_([\w-]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file name must look like 001_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), "utf8");
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new Error(`duplicate migration number ${version}`);
    migrations.push({ version, name: match[2] ?? file, sql, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  return migrations;
}

/** Applies pending migrations; returns the versions applied by this call. */
export async function migrate(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
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
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => {});
    client.release();
  }
  return applied;
}

/** True when every migration file has been applied. */
export async function isMigrated(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<boolean> {
  const migrations = await loadMigrations(dir);
  const { rows } = await pool
    .query<{ version: number }>(
      "SELECT version FROM schema_migrations WHERE to_regclass('schema_migrations') IS NOT NULL",
    )
    .catch(() => ({ rows: [] as { version: number }[] }));
  const done = new Set(rows.map((r) => r.version));
  return migrations.every((m) => done.has(m.version));
}
