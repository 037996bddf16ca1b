// The plan settings measured in BENCHMARKS.md (force_generic_plan, random_page_cost = 1.1) must be
// on every PL/pgSQL function after all migrations and sql/ files: CREATE OR REPLACE FUNCTION
// resets settings not in its own SET clause, so they are declared where each function is defined
// (sql/), and this test fails when one is replaced without them.
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

// The functions a batch of events runs through: the ingest triggers, recompute_sites and what it
// calls, and the scheduler's entry point. Listed so that renaming one away from plpgsql (or
// dropping it) fails here rather than silently leaving the check with nothing to check.
const RECOMPUTE_PATH = [
  "lock_sites",
  "on_dr_signals",
  "on_price_signals",
  "on_session_ends",
  "on_session_samples",
  "on_site_demand",
  "on_site_settings",
  "recompute_due_sites",
  "recompute_sites",
  "refresh_alerts",
  "refresh_boundaries",
];

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

async function plpgsqlFunctions(): Promise<{ name: string; config: string[] | null }[]> {
  const { rows } = await t.pool.query<{ name: string; config: string[] | null }>(
    `SELECT p.proname AS name, p.proconfig AS config
     FROM pg_proc p
     JOIN pg_namespace n ON n.oid = p.pronamespace
     JOIN pg_language l ON l.oid = p.prolang
     WHERE n.nspname = 'public' AND l.lanname = 'plpgsql'
     ORDER BY 1`,
  );
  return rows;
}

test("every function on the recompute path is plpgsql", async () => {
  const names = (await plpgsqlFunctions()).map((f) => f.name);
  expect(names).toEqual(expect.arrayContaining(RECOMPUTE_PATH));
});

test("every plpgsql function carries force_generic_plan and random_page_cost = 1.1", async () => {
  const missing = (await plpgsqlFunctions())
    .filter(
      (f) => !f.config?.includes("plan_cache_mode=force_generic_plan") || !f.config?.includes("random_page_cost=1.1"),
    )
    .map((f) => `${f.name}: ${JSON.stringify(f.config)}`);
  expect(missing).toEqual([]);
});
