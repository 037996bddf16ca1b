// A database of its own for each test file, cloned from the migrated template, dropped after.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createDb, createPool, type Db } from "../../src/db/pool.js";
import { until } from "./until.js";

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly pool: pg.Pool;
  readonly db: Db;
  drop(): Promise<void>;
}

export async function adminQuery(sqlText: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("pgAdminUrl") });
  await admin.connect();
  try {
    await admin.query(sqlText);
  } finally {
    await admin.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `scc_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${inject("pgTemplateDb")}`);
  const url = new URL(inject("pgAdminUrl"));
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), 5);
  const db = createDb(pool);
  return {
    url: url.toString(),
    name,
    pool,
    db,
    async drop() {
      // Replication slots pin a database and outlive the streams that used them: give their
      // walsenders up to 10 s to go, then drop the slots before the database itself.
      await until(
        async () =>
          (await pool.query("SELECT 1 FROM pg_replication_slots WHERE database = $1 AND active", [name])).rows
            .length === 0,
        { timeoutMs: 10_000, intervalMs: 100 },
      ).catch(() => {}); // still active after 10 s: drop what can be dropped anyway
      await db.destroy();
      await adminQuery(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${name}' AND NOT active`,
      ).catch(() => {});
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
