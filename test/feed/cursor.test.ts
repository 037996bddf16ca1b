// The feed cursor in SQL (migrations/013, sql/080_feed.sql): numbered at commit, in commit order,
// gap-free across concurrent writers on different sites; alert changes numbered from the same counter.
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { demand, samples, setClock, T0 } from "../helpers/events.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterAll(async () => {
  await t?.drop();
});

async function counter(): Promise<number> {
  const { rows } = await t.pool.query("SELECT value FROM feed_counter");
  return Number(rows[0].value);
}

test("commands are numbered at commit, after the commands of a transaction that committed earlier", async () => {
  const before = await counter();
  const a = new pg.Client({ connectionString: t.url });
  const b = new pg.Client({ connectionString: t.url });
  await a.connect();
  await b.connect();
  try {
    await demand(t.pool, "cur-a", { limit: 100, current: 0, ev: 0 });
    await demand(t.pool, "cur-b", { limit: 100, current: 0, ev: 0 });
    const base = await counter();
    await a.query("BEGIN");
    await b.query("BEGIN");
    // a inserts first (lower seq), b commits first: b's commands get the lower cursors.
    await a.query(
      `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
         current_power_kw, session_start_ts, sampled_ts, source) VALUES ('cur-a-1', 'cp-a', 1, 'cur-a', 11, 0, $1, $1, 'graphql')`,
      [T0],
    );
    await b.query(
      `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
         current_power_kw, session_start_ts, sampled_ts, source) VALUES ('cur-b-1', 'cp-b', 1, 'cur-b', 11, 0, $1, $1, 'graphql')`,
      [T0],
    );
    const inTx = await a.query("SELECT cursor FROM setpoint_commands WHERE session_id = 'cur-a-1'");
    expect(inTx.rows).toEqual([{ cursor: null }]); // not numbered before commit
    await b.query("COMMIT");
    await a.query("COMMIT");
    const { rows } = await t.pool.query(
      "SELECT session_id, seq, cursor FROM setpoint_commands WHERE session_id IN ('cur-a-1', 'cur-b-1') ORDER BY session_id",
    );
    const [ra, rb] = rows;
    expect(BigInt(ra.seq)).toBeLessThan(BigInt(rb.seq));
    expect(BigInt(rb.cursor)).toBeLessThan(BigInt(ra.cursor));
    expect(Number(rb.cursor)).toBe(base + 1);
    expect(Number(ra.cursor)).toBe(base + 2);
    expect(before).toBeLessThanOrEqual(base);
  } finally {
    await a.end();
    await b.end();
  }
});

test("many concurrent writers: every cursor from 1 to the counter is used once, in commit order", async () => {
  const writers = 8;
  const rounds = 12;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const site = `conc-${w}`;
      await demand(t.pool, site, { limit: 50, current: 0, ev: 0 });
      for (let r = 0; r < rounds; r++) {
        // each round adds a session: every session of the site gets a new setpoint (a command each)
        await samples(
          t.pool,
          Array.from({ length: r + 1 }, (_, i) => ({ session: `${site}-s${i}`, site, rated: 22 })),
        );
      }
    }),
  );
  const { rows } = await t.pool.query<{ cursor: string }>(
    "SELECT cursor FROM setpoint_commands UNION ALL SELECT cursor FROM alert_events ORDER BY 1",
  );
  const cursors = rows.map((r) => Number(r.cursor));
  expect(cursors.every((c) => Number.isFinite(c) && c > 0)).toBe(true);
  expect(cursors).toEqual(Array.from({ length: cursors.length }, (_, i) => i + 1));
  expect(await counter()).toBe(cursors.length);
});

test("alert changes are logged with cursors from the same counter", async () => {
  await demand(t.pool, "al-1", { limit: 10, current: 50, ev: 0 }); // over demand: an alert
  const { rows } = await t.pool.query(
    "SELECT alert_id, type, status, cursor FROM alert_events WHERE site_id = 'al-1' ORDER BY cursor",
  );
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.every((r) => r.cursor !== null)).toBe(true);
});

test("advance_feed_horizon only moves forward and names an unknown feed", async () => {
  expect(Number((await t.pool.query("SELECT advance_feed_horizon('commands', 5) AS h")).rows[0].h)).toBe(5);
  expect(Number((await t.pool.query("SELECT advance_feed_horizon('commands', 3) AS h")).rows[0].h)).toBe(5);
  expect(Number((await t.pool.query("SELECT advance_feed_horizon('commands', NULL) AS h")).rows[0].h)).toBe(5);
  await expect(t.pool.query("SELECT advance_feed_horizon('nope', 1)")).rejects.toThrow(/unknown feed nope/);
  await t.pool.query("UPDATE feed_horizon SET pruned_cursor = 0");
});
