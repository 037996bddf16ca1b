import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

test("smoke", async () => {
  const { rows } = await t.pool.query("SELECT current_setting('wal_level') AS w, app_now() AS n");
  expect(rows[0].w).toBe("logical");
});
