// The Kysely Database interface (src/db/types.ts) must match the migrated tables.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

test("every table and column in the database is declared in src/db/types.ts, and nothing more", async () => {
  const source = await readFile(new URL("../../src/db/types.ts", import.meta.url), "utf8");
  const tables = [...source.matchAll(/^ {2}(\w+): (\w+Table);$/gm)].map((m) => [m[1] ?? "", m[2] ?? ""] as const);
  const declared = new Map<string, Set<string>>();
  for (const [table, iface] of tables) {
    const body = new RegExp(`export interface ${iface}(?: extends (\\w+))? \\{([\\s\\S]*?)\\n\\}`).exec(source);
    const columns = new Set([...(body?.[2] ?? "").matchAll(/^ {2}(\w+):/gm)].map((m) => m[1] as string));
    if (body?.[1]) {
      const base = new RegExp(`interface ${body[1]} \\{([\\s\\S]*?)\\n\\}`).exec(source);
      for (const m of (base?.[1] ?? "").matchAll(/^ {2}(\w+):/gm)) columns.add(m[1] as string);
    }
    declared.set(table, columns);
  }
  const { rows } = await t.pool.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name <> 'schema_migrations'`,
  );
  const actual = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!actual.has(r.table_name)) actual.set(r.table_name, new Set());
    actual.get(r.table_name)?.add(r.column_name);
  }
  const sorted = (m: Map<string, Set<string>>) =>
    Object.fromEntries([...m.entries()].sort().map(([k, v]) => [k, [...v].sort()]));
  expect(sorted(declared)).toEqual(sorted(actual));
});
