// Seeding a fleet into a scenario database and replaying rounds of samples through the SQL
// ingest path (insertStream: one INSERT per batch, the triggers recompute each touched site).
import type pg from "pg";
import type { Db } from "../../src/db/pool.js";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS, type InputStream } from "../../src/ingest/streams.js";
import type { SessionSample } from "../../src/ingest/validate.js";
import type { BenchDatabase } from "./cluster.js";
import { benchFleet, chunk, type Fleet, roundSamples, siteDemand, siteId } from "./data.js";
import type { ScenarioContext } from "./scenario.js";
import { now } from "./stats.js";

/** Freezes the database clock at the fleet's epoch: no time boundary fires during a measurement. */
export async function freezeClock(pool: pg.Pool, fleet: Fleet): Promise<void> {
  await pool.query("SELECT set_clock($1, 0)", [fleet.t0.toISOString()]);
}

/** Clock, one demand sample per site, then round 0 (every session's first sample) in big batches. */
export async function seedFleet(
  database: { pool: pg.Pool; db: Db },
  fleet: Fleet,
  options: { from?: number; batch?: number; demand?: boolean } = {},
): Promise<void> {
  const from = options.from ?? 0;
  if (from === 0) await freezeClock(database.pool, fleet);
  if (options.demand !== false) {
    for (const part of chunk(siteDemand(fleet).slice(from), 10_000))
      await insertStream(database.db, INPUT_STREAMS.siteDemand, part);
  }
  const batch = options.batch ?? 10_000;
  for (const part of chunk(roundSamples(fleet, 0, { from }), batch))
    await insertStream(database.db, INPUT_STREAMS.sessionSamples, part);
  await database.pool.query("VACUUM ANALYZE sessions, setpoints, sites");
}

/**
 * A scenario's own database seeded with the fleet of 1,000 sites x 20 sessions (seedFleet), for
 * `body`; dropped afterwards, whatever happens.
 */
export async function withSeededFleet<T>(
  ctx: ScenarioContext,
  name: string,
  body: (database: BenchDatabase, fleet: Fleet) => Promise<T>,
): Promise<T> {
  const database = await ctx.cluster.createDatabase(name);
  try {
    const fleet = benchFleet();
    ctx.log(`${name}: seeding 1,000 sites x 20 sessions`);
    await seedFleet(database, fleet);
    return await body(database, fleet);
  } finally {
    await database.drop();
  }
}

export interface BatchRun {
  samples: number;
  batches: number;
  totalMs: number;
  latenciesMs: number[];
  /** Sites of the last batch (for spot checks). */
  lastSites: string[];
}

/** Inserts the samples in batches of `size`, one at a time, timing each. Stops at the budget. */
export async function runBatches(
  db: Db,
  samples: readonly SessionSample[],
  size: number,
  budget: { maxBatches?: number; maxMs?: number } = {},
): Promise<BatchRun> {
  const latenciesMs: number[] = [];
  let done = 0;
  let lastSites: string[] = [];
  const start = now();
  for (let i = 0; i < samples.length; i += size) {
    if (budget.maxBatches !== undefined && latenciesMs.length >= budget.maxBatches) break;
    if (budget.maxMs !== undefined && now() - start >= budget.maxMs) break;
    const batch = samples.slice(i, i + size);
    const t = now();
    await insertStream(db, INPUT_STREAMS.sessionSamples, batch);
    latenciesMs.push(now() - t);
    done += batch.length;
    lastSites = [...new Set(batch.map((s) => s.siteId))];
  }
  return { samples: done, batches: latenciesMs.length, totalMs: now() - start, latenciesMs, lastSites };
}

export function mergeRuns(runs: readonly BatchRun[]): BatchRun {
  return {
    samples: runs.reduce((a, r) => a + r.samples, 0),
    batches: runs.reduce((a, r) => a + r.batches, 0),
    totalMs: runs.reduce((a, r) => a + r.totalMs, 0),
    latenciesMs: runs.flatMap((r) => r.latenciesMs),
    lastSites: runs.at(-1)?.lastSites ?? [],
  };
}

export interface Verification {
  ok: boolean;
  setpoints: number;
  activeSessions: number;
  checkedSites: string[];
  mismatches: number;
  staleSessions: number;
}

/**
 * Setpoints are current: one per active session, and the stored rows of the checked sites equal a
 * fresh session_allocation() of them. `expectedTs`: the sampled_ts every checked session must carry.
 */
export async function verifySetpoints(
  pool: pg.Pool,
  sites: readonly string[],
  expectedTs?: Date,
): Promise<Verification> {
  const counts = await pool.query<{ setpoints: number; active: number }>(
    `SELECT (SELECT count(*)::int FROM setpoints) AS setpoints,
            (SELECT count(*)::int FROM sessions WHERE ended_at IS NULL) AS active`,
  );
  const diff = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n
     FROM (SELECT * FROM session_allocation($1::text[], app_now())) a
     FULL JOIN (SELECT * FROM setpoints WHERE site_id = ANY ($1::text[])) sp USING (session_id)
     WHERE a.setpoint_kw IS DISTINCT FROM sp.setpoint_kw OR a.limited_by IS DISTINCT FROM sp.limited_by`,
    [sites],
  );
  const stale = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM sessions
     WHERE site_id = ANY ($1::text[]) AND ($2::timestamptz IS NOT NULL AND sampled_ts <> $2::timestamptz)`,
    [sites, expectedTs?.toISOString() ?? null],
  );
  const setpoints = counts.rows[0]?.setpoints ?? -1;
  const activeSessions = counts.rows[0]?.active ?? -2;
  const mismatches = diff.rows[0]?.n ?? -1;
  const staleSessions = stale.rows[0]?.n ?? -1;
  return {
    ok: setpoints === activeSessions && mismatches === 0 && staleSessions === 0,
    setpoints,
    activeSessions,
    checkedSites: [...sites],
    mismatches,
    staleSessions,
  };
}

export function describeVerification(v: Verification): string {
  return v.ok
    ? `ok: ${v.setpoints} setpoints = ${v.activeSessions} active sessions; ${v.checkedSites.length} sites match session_allocation()`
    : `FAILED: ${v.setpoints} setpoints vs ${v.activeSessions} active; ${v.mismatches} mismatching, ${v.staleSessions} stale rows`;
}

export function randomSites(fleet: Fleet, count: number, seed = 7): string[] {
  let x = seed;
  const out = new Set<string>();
  while (out.size < Math.min(count, fleet.sites)) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.add(siteId(x % fleet.sites, fleet.prefix));
  }
  return [...out];
}

/**
 * `unnest($1::text[], ...)` over the named columns of a stream (all of them by default) and its
 * parameters, one array per column, as the stream's descriptor maps a row (src/ingest/streams.ts):
 * for SQL that writes a batch other than through insertStream (the baseline's tables, an EXPLAIN).
 */
export function unnestOf<T>(
  stream: InputStream<T>,
  rows: readonly T[],
  names?: readonly string[],
): { columns: string; unnest: string; params: (string | number | null)[][] } {
  const columns = names
    ? names.map((name) => {
        const column = stream.columns.find((c) => c.name === name);
        if (!column) throw new Error(`${stream.table} has no column ${name}`);
        return column;
      })
    : stream.columns;
  return {
    columns: columns.map((c) => c.name).join(", "),
    unnest: `unnest(${columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(", ")})`,
    params: columns.map((c) => rows.map(c.value)),
  };
}
