// Bounded storage (SPEC §13): with short retention settings and a frozen clock driven forward a
// day at a time, partitions are created ahead and dropped (not DELETEd), storage stops growing,
// the Kafka dedupe holds across dropped partitions, and nothing current is lost.
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RetentionConfig } from "../../src/config.js";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import { boundedTableBytes, createRetentionJob, type RetentionJob } from "../../src/storage/retention.js";
import { checkAbandonedSlots } from "../../src/storage/slots.js";
import { createStorageMetrics, type StorageMetrics } from "../../src/storage/storage-metrics.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { sessionSample, siteDemand } from "./records.js";

const DAY = 86_400_000;
const START = Date.parse("2031-03-01T00:00:00Z");
const SESSIONS = 20;
const SITE = "ret-site";

const settings: RetentionConfig = {
  rawDays: 2,
  commandsDays: 1,
  alertsDays: 3,
  deadLettersDays: 2,
  partitionHours: 24,
  partitionsAhead: 2,
  intervalSeconds: 3600,
  abandonedSlotDropMinutes: 60,
};

let t: TestDatabase;
let metrics: StorageMetrics;
let job: RetentionJob;
const logger = pino({ level: "silent" });

beforeAll(async () => {
  t = await createTestDatabase();
  metrics = createStorageMetrics(new Registry());
  job = createRetentionJob({ pool: t.pool, config: settings, logger, metrics });
});
afterAll(async () => {
  await job.stop();
  await t.drop();
});

const setClock = (ms: number) => t.pool.query("SELECT set_clock($1, 0)", [new Date(ms).toISOString()]);

async function partitions(table: string): Promise<{ lower: Date; upper: Date }[]> {
  const { rows } = await t.pool.query<{ lower: Date; upper: Date }>(
    "SELECT lower_bound AS lower, upper_bound AS upper FROM partition_bounds($1::regclass)",
    [table],
  );
  return rows;
}

async function count(sqlText: string, params: unknown[] = []): Promise<number> {
  const { rows } = await t.pool.query<{ n: number }>(sqlText, params);
  return rows[0]?.n ?? 0;
}

/** One simulated day: a sample per session every 2 hours, a site demand, a dead letter; then a retention pass. */
async function day(d: number) {
  const base = START + d * DAY;
  for (let hour = 0; hour < 24; hour += 2) {
    const ts = new Date(base + hour * 3_600_000);
    await setClock(ts.getTime());
    const rows = Array.from({ length: SESSIONS }, (_, i) => sessionSample(`ret-s${i}`, SITE, ts, 7 + (i % 5)));
    await insertStream(t.db, INPUT_STREAMS.sessionSamples, rows);
    await insertStream(t.db, INPUT_STREAMS.siteDemand, [siteDemand(SITE, ts, hour % 4 === 0 ? 60 : 40)]);
  }
  await t.pool.query(
    `INSERT INTO dead_letters (topic, partition, kafka_offset, payload, reason)
     VALUES ('ret-topic', 0, $1, 'x', 'test')`,
    [d],
  );
  await setClock(base + 23.5 * 3_600_000);
  return job.run();
}

describe("retention with a frozen clock driven forward", () => {
  const sizes: number[] = [];
  const partitionCounts: number[] = [];
  const results: Awaited<ReturnType<RetentionJob["run"]>>[] = [];

  test("partitions are created ahead of the clock", async () => {
    await setClock(START);
    await job.run();
    for (const table of ["session_samples_raw", "site_demand_raw", "setpoint_commands", "dead_letters"]) {
      const bounds = await partitions(table);
      const covered = (ms: number) => bounds.some((b) => b.lower.getTime() <= ms && b.upper.getTime() > ms);
      // Today and partitionsAhead widths ahead, aligned to the width.
      expect(covered(START), table).toBe(true);
      expect(covered(START + 2 * DAY + DAY / 2), table).toBe(true);
      expect(bounds.some((b) => b.lower.getTime() === START && b.upper.getTime() === START + DAY)).toBe(true);
    }
  });

  test("ten days: old partitions are dropped, storage levels off, the default partition stays empty", {
    timeout: 180_000,
  }, async () => {
    for (let d = 0; d < 10; d += 1) {
      results.push(await day(d));
      const bytes = await boundedTableBytes(t.pool);
      sizes.push(Object.values(bytes).reduce((a, b) => a + b, 0));
      partitionCounts.push((await partitions("session_samples_raw")).length);
    }
    // Dropped, never deleted, from the partitioned tables.
    const last = results.at(-1)?.tables ?? [];
    const samples = last.find((r) => r.table === "session_samples_raw");
    expect(samples?.dropped).toBe(1);
    expect(samples?.deleted).toBe(0);
    expect(last.find((r) => r.table === "setpoint_commands")?.dropped).toBe(1);
    // The partition count stops growing.
    expect(partitionCounts.slice(4)).toEqual(Array(6).fill(partitionCounts[4]));
    // Kept: the retention days up to today, the day the cutoff falls in, and the partitions ahead.
    expect(partitionCounts[9]).toBe(settings.rawDays + 1 + settings.partitionsAhead);
    // Storage stops growing: the last days are within 15 % of day 5 (pages are reused, not added).
    for (const size of sizes.slice(6)) expect(size).toBeLessThan((sizes[5] ?? 0) * 1.15);
    // Nothing fell into the DEFAULT partitions.
    expect(await count("SELECT count(*)::int AS n FROM session_samples_raw_default")).toBe(0);
  });

  test("the oldest rows kept are within the retention window; the newest are all there", async () => {
    const now = START + 9 * DAY + 23.5 * 3_600_000;
    const oldest = await t.pool.query<{ min: Date }>("SELECT min(received_at) AS min FROM session_samples_raw");
    expect(oldest.rows[0]?.min.getTime()).toBeGreaterThanOrEqual(now - (settings.rawDays + 1) * DAY);
    // Every sample of the last day is kept.
    expect(
      await count("SELECT count(*)::int AS n FROM session_samples_raw WHERE received_at >= $1", [
        new Date(START + 9 * DAY),
      ]),
    ).toBe(12 * SESSIONS);
    const commands = await t.pool.query<{ min: Date }>("SELECT min(command_ts) AS min FROM setpoint_commands");
    expect(commands.rows[0]?.min.getTime()).toBeGreaterThanOrEqual(now - (settings.commandsDays + 1) * DAY);
    expect(await count("SELECT count(*)::int AS n FROM dead_letters")).toBeLessThanOrEqual(
      settings.deadLettersDays + 1,
    );
  });

  test("current state is untouched: sessions, site, setpoints", async () => {
    expect(await count("SELECT count(*)::int AS n FROM sessions WHERE site_id = $1", [SITE])).toBe(SESSIONS);
    expect(await count("SELECT count(*)::int AS n FROM setpoints WHERE site_id = $1", [SITE])).toBe(SESSIONS);
    const site = await t.pool.query<{ measured_ts: Date }>("SELECT measured_ts FROM sites WHERE site_id = $1", [SITE]);
    expect(site.rows[0]?.measured_ts.getTime()).toBe(START + 9 * DAY + 22 * 3_600_000);
    const sampled = await t.pool.query<{ max: Date }>("SELECT max(sampled_ts) AS max FROM sessions");
    expect(sampled.rows[0]?.max.getTime()).toBe(START + 9 * DAY + 22 * 3_600_000);
  });

  test("a Kafka replay is stored once, even after the partition holding the first copy was dropped", async () => {
    const stream = INPUT_STREAMS.siteDemand;
    const positions = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ topic: "ret-kafka", partition: 3, offset: String(from + i) }));
    const batch = (n: number) => Array.from({ length: n }, () => siteDemand("ret-kafka-site", new Date(START)));
    let now = START + 10 * DAY;
    await setClock(now);
    expect(await insertStream(t.db, stream, batch(5), { source: "kafka", positions: positions(0, 5) })).toBe(5);
    // A replay the same day, overlapping: only the new offsets.
    expect(await insertStream(t.db, stream, batch(7), { source: "kafka", positions: positions(0, 7) })).toBe(2);
    // Days later, the first copies' partition is gone: still nothing twice.
    now += 5 * DAY;
    await setClock(now);
    await job.run();
    expect(await count("SELECT count(*)::int AS n FROM site_demand_raw WHERE kafka_topic = 'ret-kafka'")).toBe(0);
    expect(await insertStream(t.db, stream, batch(7), { source: "kafka", positions: positions(0, 7) })).toBe(0);
    expect(await insertStream(t.db, stream, batch(8), { source: "kafka", positions: positions(0, 8) })).toBe(1);
  });

  test("cleared alerts older than their retention are deleted; active ones are kept", async () => {
    const now = START + 40 * DAY;
    await setClock(now);
    await t.pool.query(
      `INSERT INTO alerts (type, site_id, status, raised_at, updated_at, cleared_at, message) VALUES
         ('SITE_OVER_DEMAND', $1, 'CLEARED', $2, $2, $2, 'old, cleared'),
         ('SITE_OVER_DEMAND', $1, 'CLEARED', $3, $3, $3, 'recent, cleared'),
         ('CAPACITY_SHORTFALL', $1, 'ACTIVE', $2, $2, NULL, 'old, still active')`,
      [SITE, new Date(now - 10 * DAY), new Date(now - DAY)],
    );
    const { tables } = await job.run();
    expect(tables.find((r) => r.table === "alerts")?.deleted).toBeGreaterThanOrEqual(1);
    const { rows } = await t.pool.query<{ message: string }>(
      "SELECT message FROM alerts WHERE message LIKE '%, %' ORDER BY message",
    );
    expect(rows.map((r) => r.message)).toEqual(["old, still active", "recent, cleared"]);
  });

  test("rows written while no partition covered their time are adopted and then dropped", async () => {
    // A clock jump far past the partitions created ahead: the rows land in DEFAULT, not in an error.
    const far = START + 400 * DAY;
    await setClock(far);
    await insertStream(t.db, INPUT_STREAMS.siteDemand, [siteDemand("ret-far", new Date(far))]);
    expect(await count("SELECT count(*)::int AS n FROM site_demand_raw_default")).toBe(1);
    await job.run();
    expect(await count("SELECT count(*)::int AS n FROM site_demand_raw_default")).toBe(0);
    expect(await count("SELECT count(*)::int AS n FROM site_demand_raw WHERE site_id = 'ret-far'")).toBe(1);
    await setClock(far + 10 * DAY);
    await job.run();
    expect(await count("SELECT count(*)::int AS n FROM site_demand_raw WHERE site_id = 'ret-far'")).toBe(0);
  });
});

test("a table listed later is converted by the next pass and then bounded like the others", async () => {
  await t.pool.query(`
    CREATE TABLE ret_history (site_id text NOT NULL, ts timestamptz NOT NULL, kw double precision);
    INSERT INTO ret_history VALUES ('a', '2031-01-01T00:00Z', 1), ('a', '2031-06-01T00:00Z', 2);
    INSERT INTO retention_policies (table_name, time_column, setting) VALUES ('ret_history', 'ts', 'raw');`);
  await setClock(Date.parse("2031-06-01T12:00:00Z"));
  const { tables } = await job.run();
  expect(tables.find((r) => r.table === "ret_history")?.created).toBeGreaterThan(0);
  // One partition held both old rows (Jan 1 to Jun 2): kept until its newest row is past retention.
  expect(await count("SELECT count(*)::int AS n FROM ret_history")).toBe(2);
  await setClock(Date.parse("2031-06-10T00:00:00Z"));
  await job.run();
  expect(await count("SELECT count(*)::int AS n FROM ret_history")).toBe(0);
});

describe("the abandoned-slot rule", () => {
  test("a durable slot of ours that nobody reads is reported, then dropped after the configured time", async () => {
    const slot = `scc_abandoned_${t.name}`.slice(0, 63);
    await t.pool.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    const reported = await checkAbandonedSlots(t.pool, { dropAfterMs: 60 * 60_000, logger, metrics });
    expect(reported.map((r) => ({ slot: r.slot, dropped: r.dropped }))).toEqual([{ slot, dropped: false }]);
    // An hour later (the check's own clock), it is dropped.
    const later = await checkAbandonedSlots(t.pool, {
      dropAfterMs: 60 * 60_000,
      logger,
      metrics,
      now: Date.now() + 61 * 60_000,
    });
    expect(later.map((r) => ({ slot: r.slot, dropped: r.dropped }))).toEqual([{ slot, dropped: true }]);
    expect(await count("SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1", [slot])).toBe(0);
    // 0: reported only, never dropped.
    await t.pool.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    const kept = await checkAbandonedSlots(t.pool, { dropAfterMs: 0, logger, metrics, now: Date.now() + 1e9 });
    expect(kept.map((r) => r.dropped)).toEqual([false]);
    await t.pool.query("SELECT pg_drop_replication_slot($1)", [slot]);
  });
});
