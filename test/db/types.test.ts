// The Kysely Database interface (src/db/types.ts) must match the migrated tables: the same tables
// and columns, each column's TypeScript type what node-postgres returns for its PostgreSQL type
// (src/db/pool.ts: numeric as a number, int8 as a string), `| null` exactly where the column is
// nullable, and optional on insert (Generated, or `| undefined` in ColumnType's insert type)
// exactly where the column has a default.
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

/** What a column looks like to TypeScript: the select type, nullable, optional on insert. */
interface ColumnShape {
  type: string;
  nullable: boolean;
  defaulted: boolean;
}

// PostgreSQL type (information_schema udt_name) to the TypeScript type node-postgres returns.
const PG_TO_TS: Record<string, string> = {
  text: "string",
  uuid: "string",
  int4: "number",
  int8: "string",
  float8: "number",
  numeric: "number",
  bool: "boolean",
  timestamptz: "Date",
  bytea: "Buffer",
  jsonb: "unknown",
  _text: "string[]",
  _float8: "number[]",
};

// Aliases of src/db/types.ts and src/domain.ts, by their select type. Enumerated values are text.
const ALIASES: Record<string, string> = {
  Timestamp: "Date",
  Created: "Date",
  Int8: "string",
  AllocationPolicy: "string",
  PriceTier: "string",
  RetentionMethod: "string",
  SetpointLimit: "string",
  AlertType: "string",
  AlertStatus: "string",
  Source: "string",
  Role: "string",
  OcppVersion: "string",
  ChargingRateUnit: "string",
  GridPhase: "string",
  ProfilePurpose: "string",
};
const CREATED_DEFAULTED = new Set(["Created"]);

/** Splits `a, b<c, d>, e` at top-level commas. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "<" || ch === "(") depth += 1;
    if (ch === ">" || ch === ")") depth -= 1;
    if (ch === separator && depth === 0) {
      parts.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current.trim());
  return parts;
}

function shapeOf(declared: string): ColumnShape {
  let members = splitTopLevel(declared, "|");
  const nullable = members.includes("null");
  members = members.filter((m) => m !== "null");
  let defaulted = false;
  const types = members.map((member) => {
    let m = member;
    const generated = /^Generated<(.*)>$/.exec(m);
    if (generated) {
      defaulted = true;
      m = generated[1] ?? "";
    }
    const column = /^ColumnType<(.*)>$/.exec(m);
    if (column) {
      const [select = "", insert = ""] = splitTopLevel(column[1] ?? "", ",");
      if (splitTopLevel(insert, "|").includes("undefined")) defaulted = true;
      m = select;
    }
    if (CREATED_DEFAULTED.has(m)) defaulted = true;
    if (/^"[^"]*"$/.test(m)) return "string";
    return ALIASES[m] ?? m;
  });
  const unique = [...new Set(types)];
  return { type: unique.join(" | "), nullable, defaulted };
}

async function declaredColumns(): Promise<Record<string, Record<string, ColumnShape>>> {
  const source = await readFile(new URL("../../src/db/types.ts", import.meta.url), "utf8");
  const tables = [...source.matchAll(/^ {2}(\w+): (\w+Table);$/gm)].map((m) => [m[1] ?? "", m[2] ?? ""] as const);
  const columnsOf = (body: string) =>
    [...body.matchAll(/^ {2}(\w+): (.*);$/gm)].map((m) => [m[1] ?? "", shapeOf(m[2] ?? "")] as const);
  const declared: Record<string, Record<string, ColumnShape>> = {};
  for (const [table, iface] of tables) {
    const body = new RegExp(`export interface ${iface}(?: extends (\\w+))? \\{([\\s\\S]*?)\\n\\}`).exec(source);
    const columns = Object.fromEntries(columnsOf(body?.[2] ?? ""));
    if (body?.[1]) {
      const base = new RegExp(`interface ${body[1]} \\{([\\s\\S]*?)\\n\\}`).exec(source);
      Object.assign(columns, Object.fromEntries(columnsOf(base?.[1] ?? "")));
    }
    declared[table] = columns;
  }
  return declared;
}

async function actualColumns(): Promise<Record<string, Record<string, ColumnShape>>> {
  const { rows } = await t.pool.query<{
    table_name: string;
    column_name: string;
    udt_name: string;
    is_nullable: "YES" | "NO";
    defaulted: boolean;
  }>(
    `SELECT table_name, column_name, udt_name, is_nullable,
            column_default IS NOT NULL OR is_identity = 'YES' AS defaulted
     FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name NOT IN ('schema_migrations', 'schema_repeatables')
       -- a partition (bounded storage) has its parent's columns
       AND NOT (SELECT relispartition FROM pg_class WHERE oid = format('%I.%I', table_schema, table_name)::regclass)`,
  );
  const actual: Record<string, Record<string, ColumnShape>> = {};
  for (const r of rows) {
    const columns = actual[r.table_name] ?? {};
    actual[r.table_name] = columns;
    columns[r.column_name] = {
      type: PG_TO_TS[r.udt_name] ?? `unmapped PostgreSQL type ${r.udt_name}`,
      nullable: r.is_nullable === "YES",
      // A nullable column without a default is optional on insert too; Kysely knows that from `| null`.
      defaulted: r.defaulted,
    };
  }
  return actual;
}

const sorted = <T>(tables: Record<string, Record<string, T>>) =>
  Object.fromEntries(
    Object.entries(tables)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([table, columns]) => [
        table,
        Object.fromEntries(Object.entries(columns).sort(([a], [b]) => a.localeCompare(b))),
      ]),
  );

test("every table and column in the database is declared in src/db/types.ts, and nothing more", async () => {
  const names = (tables: Record<string, Record<string, unknown>>) =>
    Object.fromEntries(
      Object.entries(tables)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, Object.keys(v).sort()]),
    );
  expect(names(await declaredColumns())).toEqual(names(await actualColumns()));
});

test("each column's TypeScript type, nullability and insert default match the database", async () => {
  expect(sorted(await declaredColumns())).toEqual(sorted(await actualColumns()));
});

test("the type mapping catches a drift", () => {
  expect(shapeOf("number | null")).toEqual({ type: "number", nullable: true, defaulted: false });
  expect(shapeOf("Generated<string>")).toEqual({ type: "string", nullable: false, defaulted: true });
  expect(shapeOf("ColumnType<PriceTier, PriceTier | undefined, PriceTier>")).toEqual({
    type: "string",
    nullable: false,
    defaulted: true,
  });
  expect(shapeOf('"ENDED" | "TIMEOUT" | null')).toEqual({ type: "string", nullable: true, defaulted: false });
  expect(shapeOf("Timestamp | null")).not.toEqual({ type: "Date", nullable: false, defaulted: false });
});
