// Upgrading keeps the data (SPEC §13 bounded storage): a database at migration 012 (the end of
// wave 1) holding events stored through the ingest repository is migrated to the current schema;
// every row is still there, the bounded tables are partitioned, the Kafka dedupe remembers what
// was stored before, and new writes work.
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { MIGRATIONS_DIR, migrate } from "../../src/db/migrate.js";
import { createDb, createPool } from "../../src/db/pool.js";
import { insertSessionEnd, insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS, type InputStream } from "../../src/ingest/streams.js";
import { adminQuery, createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { sessionSample, siteDemand } from "../storage/records.js";

const KEPT = [
  "session_samples_raw",
  "site_demand_raw",
  "price_signals_raw",
  "dr_signals_raw",
  "session_ends_raw",
  "setpoint_commands",
  "dead_letters",
  "sessions",
  "sites",
  "setpoints",
  "alerts",
  "price_intervals",
  "dr_events",
];
const PARTITIONED = KEPT.slice(0, 7);

// The columns later migrations added to the raw tables (013 onwards) are not there yet at 012.
const LATER_COLUMNS = new Set(["phases", "phase", "voltage_v", "transaction_id", "phase_currents_a"]);
function wave1<T>(stream: InputStream<T>): InputStream<T> {
  return { ...stream, columns: stream.columns.filter((c) => !LATER_COLUMNS.has(c.name)) };
}

let t: TestDatabase;
let dir: string;
beforeAll(async () => {
  t = await createTestDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), "scc-wave1-"));
  for (const file of await readdir(MIGRATIONS_DIR)) {
    const version = Number(/^(\d+)_/.exec(file)?.[1] ?? 0);
    if (version >= 1 && version <= 12) await copyFile(path.join(MIGRATIONS_DIR, file), path.join(dir, file));
  }
});
afterAll(async () => {
  await t.drop();
  await rm(dir, { recursive: true, force: true });
});

type Rows = Record<string, Record<string, unknown>[]>;

/** Every row of the kept tables; with `like`, only the columns the rows of `like` had (later
 * migrations add columns: the data that was there must be unchanged). */
async function snapshot(pool: pg.Pool, like?: Rows): Promise<Rows> {
  const out: Rows = {};
  for (const table of KEPT) {
    const { rows } = await pool.query<{ row: Record<string, unknown> }>(
      `SELECT to_jsonb(x) AS row FROM ${table} x ORDER BY to_jsonb(x)::text`,
    );
    const keys = like ? Object.keys(like[table]?.[0] ?? {}) : null;
    out[table] = rows.map((r) => (keys ? Object.fromEntries(keys.map((k) => [k, r.row[k]])) : r.row));
  }
  return out;
}

test("a wave-1 database (through 012) keeps every row when migrated, and new writes work", async () => {
  const name = `scc_upgrade_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(t.url);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), 2);
  const db = createDb(pool);
  try {
    // Wave 1: the tables of 001-012 and the functions those migrations created.
    await migrate(pool, dir, null);
    const ts = new Date(Date.UTC(2026, 4, 1, 12));
    await pool.query("SELECT set_clock($1, 0)", [ts.toISOString()]);
    await insertStream(db, wave1(INPUT_STREAMS.siteDemand), [siteDemand("up-a", ts), siteDemand("up-b", ts, 120)]);
    await insertStream(db, wave1(INPUT_STREAMS.sessionSamples), [
      sessionSample("up-s1", "up-a", ts),
      sessionSample("up-s2", "up-a", ts, 22),
      sessionSample("up-s3", "up-b", ts),
    ]);
    await insertStream(db, INPUT_STREAMS.priceSignals, [
      {
        tariffId: "tou",
        siteId: "up-a",
        priceUsdKwh: 0.3,
        priceTier: "ON_PEAK" as const,
        validFrom: ts,
        validTo: new Date(ts.getTime() + 3_600_000),
      },
    ]);
    await insertStream(db, INPUT_STREAMS.drSignals, [
      {
        drEventId: "dr-up",
        siteId: "up-b",
        curtailmentPct: 20,
        baselineKw: 50,
        eventStartTs: ts,
        eventEndTs: new Date(ts.getTime() + 3_600_000),
        signalTs: ts,
      },
    ]);
    await insertSessionEnd(db, "up-s3", null);
    // What the wave-1 Kafka consumer wrote: rows with their position, and a dead letter.
    await pool.query(
      `INSERT INTO site_demand_raw (site_id, demand_limit_kw, current_demand_kw, ev_load_kw, measured_ts, source,
         kafka_topic, kafka_partition, kafka_offset)
       VALUES ('up-a', 100, 45, 10, $1, 'kafka', 'up-topic', 0, 41), ('up-a', 100, 46, 10, $1, 'kafka', 'up-topic', 0, 42)
       ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`,
      [ts],
    );
    await pool.query(
      `INSERT INTO dead_letters (topic, partition, kafka_offset, payload, reason) VALUES ('up-topic', 0, 40, 'bad', 'not JSON')`,
    );
    const before = await snapshot(pool);
    for (const table of KEPT) expect(before[table]?.length, table).toBeGreaterThan(0);

    // Upgrade.
    const applied = await migrate(pool);
    expect(applied).toContain(16);
    expect(await snapshot(pool, before)).toEqual(before);
    const { rows: parts } = await pool.query<{ t: string }>(
      "SELECT partrelid::regclass::text AS t FROM pg_partitioned_table ORDER BY 1",
    );
    expect(parts.map((p) => p.t)).toEqual(expect.arrayContaining(PARTITIONED));
    expect((await pool.query("SELECT count(*)::int AS n FROM session_samples_raw_default")).rows[0].n).toBe(0);

    // New writes: a Kafka replay of a wave-1 offset is still a duplicate, a new offset is stored.
    const kafka = (offset: number) => ({
      source: "kafka" as const,
      positions: [{ topic: "up-topic", partition: 0, offset: String(offset) }],
    });
    expect(await insertStream(db, INPUT_STREAMS.siteDemand, [siteDemand("up-a", ts)], kafka(42))).toBe(0);
    expect(await insertStream(db, INPUT_STREAMS.siteDemand, [siteDemand("up-a", ts)], kafka(43))).toBe(1);
    // A new session gets a setpoint and a command numbered after the old ones.
    const later = new Date(ts.getTime() + 60_000);
    await pool.query("SELECT set_clock($1, 0)", [later.toISOString()]);
    const maxSeq = (await pool.query("SELECT max(seq)::int AS n FROM setpoint_commands")).rows[0].n as number;
    expect(await insertStream(db, INPUT_STREAMS.sessionSamples, [sessionSample("up-s4", "up-a", later)])).toBe(1);
    const { rows: commands } = await pool.query<{ seq: number }>(
      "SELECT seq::int AS seq FROM setpoint_commands WHERE session_id = 'up-s4'",
    );
    expect(commands.length).toBeGreaterThan(0);
    expect(commands[0]?.seq).toBeGreaterThan(maxSeq);
    expect((await pool.query("SELECT count(*)::int AS n FROM setpoints WHERE session_id = 'up-s4'")).rows[0].n).toBe(1);
  } finally {
    await db.destroy();
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
});
