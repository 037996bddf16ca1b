// The policy seam of SPEC §3 rule 7 (sql/030_policies.sql): one function per policy, called by
// session_allocation with no default, so a policy without a function fails loudly.
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { demand, samples, setClock, setpointsOf, T0 } from "../helpers/events.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterAll(async () => {
  await t.drop();
});

const kw = (values: (string | number)[]) => values.map(Number);

test("allocate_water_fill: a session capped by its rated power releases the rest to the others", async () => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_water_fill(30, ARRAY[3, 3, 3]::numeric[], ARRAY[7, 22, 22]::numeric[]) AS kw",
  );
  expect(kw(rows[0]?.kw ?? [])).toEqual([7, 11.5, 11.5]);
});

test("allocate_water_fill: more than they can take puts everyone at rated power", async () => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_water_fill(100, ARRAY[3, 3]::numeric[], ARRAY[7, 11]::numeric[]) AS kw",
  );
  expect(kw(rows[0]?.kw ?? [])).toEqual([7, 11]);
});

test("allocate_equal_share: amount / n, clamped to each session's bounds", async () => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_equal_share(30, ARRAY[3, 3, 3]::numeric[], ARRAY[7, 22, 22]::numeric[]) AS kw",
  );
  expect(kw(rows[0]?.kw ?? [])).toEqual([7, 10, 10]);
});

test("a site whose policy has no function fails, naming the policy and the site", async () => {
  const site = "policy-unknown";
  await demand(t.pool, site, { limit: 100, current: 20, ev: 0 });
  await samples(t.pool, [{ session: `${site}-a`, site, rated: 11 }]);
  expect((await setpointsOf(t.pool, site))[`${site}-a`]).toMatchObject({ setpoint_kw: 11 });

  const client = await t.pool.connect();
  try {
    await client.query("BEGIN");
    // The CHECK keeps unknown values out; without it the allocation itself must refuse.
    await client.query("ALTER TABLE sites DROP CONSTRAINT sites_policy_values");
    await expect(client.query("UPDATE sites SET policy = 'ROUND_ROBIN' WHERE site_id = $1", [site])).rejects.toThrow(
      /unknown allocation policy ROUND_ROBIN at site policy-unknown/,
    );
    await client.query("ROLLBACK");
    await client.query("BEGIN");
    await client.query("ALTER TABLE sites DROP CONSTRAINT sites_policy_values");
    await client.query("ALTER TABLE sites DISABLE TRIGGER site_settings_changed");
    await client.query("UPDATE sites SET policy = 'ROUND_ROBIN' WHERE site_id = $1", [site]);
    await expect(client.query("SELECT * FROM session_allocation(ARRAY[$1], app_now())", [site])).rejects.toThrow(
      /unknown allocation policy ROUND_ROBIN at site policy-unknown/,
    );
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
  // Nothing of it stayed: the CHECK is back and the setpoint unchanged.
  await expect(t.pool.query("UPDATE sites SET policy = 'ROUND_ROBIN' WHERE site_id = $1", [site])).rejects.toThrow(
    /sites_policy_values/,
  );
  expect((await setpointsOf(t.pool, site))[`${site}-a`]).toMatchObject({ setpoint_kw: 11 });
});
