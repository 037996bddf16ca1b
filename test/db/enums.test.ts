// Every enumerated value is listed once in TypeScript (src/domain.ts); the database keeps its own
// copy in CHECK constraints. After all migrations, each `<table>_<column>_values` CHECK must allow
// exactly the values of its list, and every CHECK that lists values must be one of them: a value
// added in one place and not the other fails here.
import { afterAll, beforeAll, expect, test } from "vitest";
import type { SessionsTable } from "../../src/db/types.js";
import {
  ALERT_STATUSES,
  ALERT_TYPES,
  ALLOCATION_POLICIES,
  CHARGING_RATE_UNITS,
  GRID_PHASES,
  OCPP_VERSIONS,
  PRICE_TIERS,
  PROFILE_PURPOSES,
  RETENTION_METHODS,
  ROLES,
  SETPOINT_LIMITS,
  SOURCES,
} from "../../src/domain.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

// sessions.end_reason has no list in src/domain.ts (it is not in the GraphQL schema); this one is
// held to the column's type in src/db/types.ts both ways at compile time.
const END_REASONS = ["ENDED", "TIMEOUT"] as const satisfies readonly NonNullable<SessionsTable["end_reason"]>[];
type MissingEndReason = Exclude<NonNullable<SessionsTable["end_reason"]>, (typeof END_REASONS)[number]>;
const allEndReasons: [MissingEndReason] extends [never] ? true : false = true;

const EXPECTED: Record<string, readonly string[]> = {
  sites_policy_values: ALLOCATION_POLICIES,
  session_samples_raw_source_values: SOURCES,
  site_demand_raw_source_values: SOURCES,
  price_signals_raw_source_values: SOURCES,
  dr_signals_raw_source_values: SOURCES,
  session_ends_raw_source_values: SOURCES,
  price_signals_raw_price_tier_values: PRICE_TIERS,
  sessions_end_reason_values: END_REASONS,
  setpoints_limited_by_values: SETPOINT_LIMITS,
  alerts_type_values: ALERT_TYPES,
  alerts_status_values: ALERT_STATUSES,
  api_keys_role_values: ROLES,
  session_samples_raw_phase_values: GRID_PHASES,
  sessions_phase_values: GRID_PHASES,
  sites_ocpp_version_values: OCPP_VERSIONS,
  sites_charging_rate_unit_values: CHARGING_RATE_UNITS,
  charge_points_ocpp_version_values: OCPP_VERSIONS,
  charge_points_charging_rate_unit_values: CHARGING_RATE_UNITS,
  charge_points_profile_purpose_values: PROFILE_PURPOSES,
  setpoint_commands_ocpp_version_values: OCPP_VERSIONS,
  retention_policies_method_values: RETENTION_METHODS,
};

let t: TestDatabase;
let checks: { table: string; name: string; definition: string }[];
beforeAll(async () => {
  t = await createTestDatabase();
  const { rows } = await t.pool.query<{ table: string; name: string; definition: string }>(
    `SELECT c.conrelid::regclass::text AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
     FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE c.contype = 'c' AND n.nspname = 'public'
       AND NOT (SELECT r.relispartition FROM pg_class r WHERE r.oid = c.conrelid) -- a partition repeats its parent's
     ORDER BY 1, 2`,
  );
  checks = rows;
});
afterAll(async () => {
  await t.drop();
});

/** The values a CHECK of the form `column = ANY (ARRAY['A'::text, ...])` allows; null otherwise. */
function listedValues(definition: string): string[] | null {
  const list = /= ANY \(ARRAY\[(.*)\]\)/.exec(definition);
  if (!list?.[1]) return null;
  return [...list[1].matchAll(/'((?:[^']|'')*)'::text/g)].map((m) => (m[1] ?? "").replaceAll("''", "'"));
}

test("the end reasons of the test match the column type", () => {
  expect(allEndReasons).toBe(true);
});

test("every CHECK that lists values is named <table>_<column>_values and has a TypeScript list", () => {
  const enumChecks = checks.filter((c) => listedValues(c.definition) !== null).map((c) => c.name);
  expect(enumChecks.sort()).toEqual(Object.keys(EXPECTED).sort());
  for (const c of checks) {
    if (c.name.endsWith("_values")) expect(c.name.startsWith(`${c.table}_`)).toBe(true);
  }
});

test.each(Object.entries(EXPECTED))("%s allows exactly its TypeScript list", (name, values) => {
  const check = checks.find((c) => c.name === name);
  expect(check, `no CHECK constraint named ${name}`).toBeDefined();
  const allowed = listedValues(check?.definition ?? "");
  expect(allowed?.slice().sort()).toEqual([...values].sort());
  expect(new Set(allowed).size).toBe(allowed?.length);
});

test("no CHECK constraint keeps a name PostgreSQL made up from the table alone", () => {
  // <table>_check (a CHECK over several columns) says nothing; the single-column
  // <table>_<column>_check names are kept.
  expect(checks.filter((c) => c.name === `${c.table}_check` || /_check\d+$/.test(c.name))).toEqual([]);
});
