// Where the time of a batch goes (opt-in: npm run bench -- --only=profile). Not a benchmark
// figure but the evidence behind BENCHMARKS.md:
//   A. per-statement breakdown of one ingest batch, from auto_explain with nested statements
//      (log_analyze on, log_timing off): each statement the trigger runs, inclusive wrappers
//      (PERFORM f()) marked, and whether PostgreSQL used a custom (re-planned per call) or the
//      cached generic plan; "not in any statement" = planning, PL/pgSQL and utility statements;
//   B. EXPLAIN (ANALYZE, BUFFERS) of a batch of 1,000 through the same INSERT (trigger time);
//   C. what-ifs: the proposals in bench/proposals/*.sql applied to a throwaway database, same
//      batches, so a proposed change comes with its measured effect;
//   D. a CPU profile of the service's process while commands fan out to 1,000 subscribers.
// BENCH_PROFILE=breakdown,whatif,fanout picks parts (default: all).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createDb } from "../../src/db/pool.js";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import type { BenchCluster, BenchDatabase } from "../lib/cluster.js";
import { profileCpu } from "../lib/cpu-profile.js";
import { benchFleet, type Fleet, roundSamples } from "../lib/data.js";
import { seedFleet, unnestOf, verifySetpoints } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { startService } from "../lib/service.js";
import { fmtMs, fmtNum, fmtUs, now, summarize } from "../lib/stats.js";
import { seedLoneSession, spawnClients } from "./subscribers.js";

const PROPOSALS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../proposals");

interface StatementStat {
  label: string;
  meanMs: number;
  calls: number;
  /** A PERFORM f(...) or the top-level INSERT: includes the statements below it. */
  inclusive: boolean;
  plans: string;
}

interface Breakdown {
  shape: string;
  wallMs: number;
  /** WAL written per batch (the whole cluster, so autovacuum may add a little). */
  walBytes: number;
  topMs: number;
  statements: StatementStat[];
  otherMs: number;
}

const LOG_START = /(?=^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[\d+\] )/m;

function parsePlans(text: string): { label: string; ms: number; custom: boolean }[] {
  const out: { label: string; ms: number; custom: boolean }[] = [];
  for (const block of text.split(LOG_START)) {
    const m = /LOG:\s+duration: ([\d.]+) ms\s+plan:\n\s*Query Text:([\s\S]*)$/.exec(block);
    if (!m) continue;
    const body = (m[2] ?? "").split(/\n\S.*CONTEXT:/)[0] ?? "";
    const firstLine =
      body
        .split("\n")
        .map((l) => l.trim())
        .find((l) => l.length > 0) ?? "?";
    out.push({
      label: firstLine.replace(/\s+/g, " ").slice(0, 64),
      ms: Number(m[1]),
      custom: /'\{site-/.test(body),
    });
  }
  return out;
}

async function walLsn(database: BenchDatabase): Promise<string> {
  return (
    (await database.pool.query<{ lsn: string }>("SELECT pg_current_wal_insert_lsn()::text AS lsn")).rows[0]?.lsn ??
    "0/0"
  );
}

async function walSince(database: BenchDatabase, lsn: string): Promise<number> {
  const { rows } = await database.pool.query<{ bytes: string }>(
    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::text AS bytes",
    [lsn],
  );
  return Number(rows[0]?.bytes ?? 0);
}

async function onConnection(url: string, options?: string) {
  const pool = new pg.Pool({ connectionString: url, max: 1, options });
  return { pool, db: createDb(pool), close: () => pool.end() };
}

/** Names of the PL/pgSQL functions: a logged `SELECT f(...)` of one of them is a PERFORM (inclusive). */
async function plpgsqlFunctions(database: BenchDatabase): Promise<Set<string>> {
  const { rows } = await database.pool.query<{ name: string }>(
    `SELECT p.proname AS name FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     JOIN pg_namespace n ON n.oid = p.pronamespace WHERE l.lanname = 'plpgsql' AND n.nspname = 'public'`,
  );
  return new Set(rows.map((r) => r.name));
}

async function breakdown(
  cluster: BenchCluster,
  database: BenchDatabase,
  fleet: Fleet,
  sitesPerBatch: number,
  round: { next: number },
  runs: number,
): Promise<Breakdown> {
  const conn = await onConnection(database.url);
  const wrappers = await plpgsqlFunctions(database);
  try {
    const batch = (i: number) => {
      const from = (i * 37) % Math.max(1, fleet.sites - sitesPerBatch);
      return roundSamples(fleet, round.next++, { from, to: from + sitesPerBatch });
    };
    // Past the plan cache's 5 custom-plan tries.
    for (let i = 0; i < (sitesPerBatch >= 500 ? 6 : 12); i++)
      await insertStream(conn.db, INPUT_STREAMS.sessionSamples, batch(i));
    const lsnBefore = await walLsn(database);
    let t = now();
    for (let i = 0; i < runs; i++) await insertStream(conn.db, INPUT_STREAMS.sessionSamples, batch(100 + i));
    const wallMs = (now() - t) / runs;
    const walBytes = (await walSince(database, lsnBefore)) / runs;
    await conn.pool.query(
      "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; " +
        "SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off; SET auto_explain.log_buffers = off",
    );
    cluster.logs.length = 0;
    t = now();
    for (let i = 0; i < runs; i++) await insertStream(conn.db, INPUT_STREAMS.sessionSamples, batch(200 + i));
    const plans = parsePlans(cluster.logs.join(""));
    const byLabel = new Map<string, { ms: number; calls: number; custom: number }>();
    for (const p of plans) {
      const label = /INSERT INTO session_samples_raw/.test(p.label)
        ? "top-level INSERT INTO session_samples_raw"
        : p.label;
      const entry = byLabel.get(label) ?? { ms: 0, calls: 0, custom: 0 };
      entry.ms += p.ms;
      entry.calls += 1;
      entry.custom += p.custom ? 1 : 0;
      byLabel.set(label, entry);
    }
    const statements: StatementStat[] = [...byLabel].map(([label, e]) => ({
      label,
      meanMs: e.ms / runs,
      calls: e.calls / runs,
      inclusive: label.startsWith("top-level") || wrappers.has(/^SELECT (\w+)\(/.exec(label)?.[1] ?? ""),
      plans: e.custom === e.calls ? "custom" : e.custom === 0 ? "generic" : `${e.custom}/${e.calls} custom`,
    }));
    const top = statements.find((s) => s.label.startsWith("top-level"))?.meanMs ?? Number.NaN;
    const leaves = statements.filter((s) => !s.inclusive).reduce((a, s) => a + s.meanMs, 0);
    statements.sort((a, b) => b.meanMs - a.meanMs);
    return {
      shape: `${fmtNum(fleet.sites)} sites x ${fleet.sessionsPerSite}, batch of ${sitesPerBatch} site(s) = ${fmtNum(sitesPerBatch * fleet.sessionsPerSite)} samples`,
      wallMs,
      walBytes,
      topMs: top,
      statements,
      // Wall time without auto_explain minus the statements' executor time: planning, PL/pgSQL,
      // utility statements, commit and the client round trip (auto_explain's own cost excluded).
      otherMs: wallMs - leaves,
    };
  } finally {
    await conn.close();
  }
}

function renderBreakdown(b: Breakdown): string {
  const lines = [
    `${b.shape}: ${fmtMs(b.wallMs)} per batch (without auto_explain), ${fmtNum(b.walBytes / 1024)} kB WAL per batch; ` +
      `executor time per statement, share of ${fmtMs(b.wallMs)}:`,
  ];
  for (const s of b.statements) {
    if (s.meanMs < 0.05 && !s.inclusive) continue;
    const share = s.inclusive ? "" : ` ${fmtNum((100 * s.meanMs) / b.wallMs)} %`;
    const calls = Math.abs(s.calls - 1) > 0.01 ? `, ${fmtNum(s.calls, 2)} calls/batch` : "";
    lines.push(
      `  ${fmtMs(s.meanMs).padStart(9)}${share.padStart(6)}  ${s.inclusive ? "(incl.) " : ""}${s.label}  [${s.plans} plan${calls}]`,
    );
  }
  lines.push(
    `  ${fmtMs(b.otherMs).padStart(9)} ${`${fmtNum((100 * b.otherMs) / b.wallMs)} %`.padStart(5)}  outside any statement's executor: planning, PL/pgSQL, utility statements, commit, client round trip`,
  );
  return lines.join("\n");
}

/** EXPLAIN (ANALYZE, BUFFERS) of the session-sample insert statement for one batch (rolled back). */
async function explainBatch(database: BenchDatabase, fleet: Fleet, round: number, sites: number): Promise<string> {
  const rows = roundSamples(fleet, round, { from: 300, to: 300 + sites });
  const client = await database.pool.connect();
  try {
    await client.query("BEGIN");
    const u = unnestOf(INPUT_STREAMS.sessionSamples, rows);
    const result = await client.query<{ "QUERY PLAN": string }>(
      `EXPLAIN (ANALYZE, BUFFERS)
       INSERT INTO session_samples_raw (${u.columns}, source) SELECT u.*, 'graphql' FROM ${u.unnest} AS u`,
      u.params,
    );
    await client.query("ROLLBACK");
    return result.rows.map((r) => `  ${r["QUERY PLAN"]}`).join("\n");
  } finally {
    client.release();
  }
}

/** Top-level statements of a SQL file (semicolons inside $$ bodies do not split). */
function splitSql(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let inBody = false;
  for (const line of text.split("\n")) {
    if (/^\s*--/.test(line) && !inBody) continue;
    current += `${line}\n`;
    inBody = ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) !== inBody;
    if (!inBody && /;\s*$/.test(line)) {
      out.push(current.trim());
      current = "";
    }
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

interface Variant {
  name: string;
  files: string[];
}

// P1, P2, P3 and P5 were measured here and are now in the migrations (002, 003, 007); what is
// left to weigh against the migrated schema is P4.
const VARIANTS: Variant[] = [
  { name: "as migrated", files: [] },
  { name: "P4 uuidv7 command ids", files: ["p4-uuidv7-command-ids.sql"] },
];

interface Prepared {
  variant: Variant;
  database: BenchDatabase;
  conn: Awaited<ReturnType<typeof onConnection>>;
  round: number;
  error: string | null;
  latencies: Map<number, number[]>;
  walBytes: Map<number, number>;
}

export const profileScenario: Scenario = {
  name: "profile",
  title: "where the time goes: per-statement breakdown, EXPLAIN of a batch, what-ifs of the proposals",
  optIn: true,
  async run(ctx) {
    const rows: Row[] = [];
    const details: string[] = [];
    const data: Record<string, unknown> = {};
    const parts = new Set((process.env.BENCH_PROFILE ?? "breakdown,whatif,fanout").split(","));
    const runs = ctx.quick ? 3 : 6;
    const fleets = !parts.has("breakdown") ? [] : ctx.quick ? [1000] : [1000, 10_000];
    for (const sites of fleets) {
      const database = await ctx.cluster.createDatabase(`profile_${sites}`);
      try {
        const fleet = benchFleet(sites);
        ctx.log(`profile: seeding ${fmtNum(sites)} sites x 20`);
        await seedFleet(database, fleet);
        const round = { next: 1 };
        for (const perBatch of [1, 50, 500]) {
          ctx.log(`profile: breakdown at ${fmtNum(sites)} sites, batches of ${perBatch} site(s)`);
          const b = await breakdown(ctx.cluster, database, fleet, perBatch, round, perBatch >= 500 ? 2 : runs);
          details.push(renderBreakdown(b));
          data[`breakdown_${sites}_${perBatch}`] = b;
        }
        if (sites === 1000) {
          const plan = await explainBatch(database, fleet, round.next++, 50);
          details.push(`EXPLAIN (ANALYZE, BUFFERS) of one batch of 1,000 samples (50 sites), rolled back:\n${plan}`);
          data.explain = plan;
        }
      } finally {
        await database.drop();
      }
    }

    // What-ifs: one database per variant, same fleet; the batches are interleaved across the
    // variants (a few batches each in turn) so machine noise hits all of them alike.
    const fleet = benchFleet();
    const prepared: Prepared[] = [];
    const whatIf: Record<string, Record<string, unknown>> = {};
    try {
      for (const variant of parts.has("whatif") ? VARIANTS : []) {
        ctx.log(`profile: preparing what-if "${variant.name}"`);
        const database = await ctx.cluster.createDatabase("whatif");
        const entry: Prepared = {
          variant,
          database,
          conn: null as never,
          round: 1,
          error: null,
          latencies: new Map(),
          walBytes: new Map(),
        };
        prepared.push(entry);
        await seedFleet(database, fleet);
        try {
          for (const file of variant.files) {
            for (const statement of splitSql(await readFile(path.join(PROPOSALS_DIR, file), "utf8"))) {
              await database.pool.query(statement);
            }
          }
        } catch (error) {
          entry.error = `could not apply: ${(error as Error).message}`;
        }
        entry.conn = await onConnection(database.url); // after ALTER DATABASE: the new settings apply
      }
      const shapes = ctx.quick
        ? [
            { sites: 1, turns: 6, perTurn: 5 },
            { sites: 50, turns: 4, perTurn: 2 },
            { sites: 500, turns: 1, perTurn: 1 },
          ]
        : [
            { sites: 1, turns: 12, perTurn: 8 },
            { sites: 50, turns: 8, perTurn: 3 },
            { sites: 500, turns: 3, perTurn: 1 },
          ];
      const batch = (entry: Prepared, sites: number) => {
        const from = (entry.round * 37) % (fleet.sites - sites);
        return roundSamples(fleet, entry.round++, { from, to: from + sites });
      };
      for (const shape of shapes) {
        ctx.log(`profile: what-ifs, batches of ${shape.sites} site(s)`);
        for (const entry of prepared) {
          if (entry.error) continue;
          for (let i = 0; i < (shape.sites >= 500 ? 1 : 8); i++)
            await insertStream(entry.conn.db, INPUT_STREAMS.sessionSamples, batch(entry, shape.sites));
        }
        for (let turn = 0; turn < shape.turns; turn++) {
          for (const entry of prepared) {
            if (entry.error) continue;
            const list = entry.latencies.get(shape.sites) ?? [];
            entry.latencies.set(shape.sites, list);
            const lsn = await walLsn(entry.database);
            for (let i = 0; i < shape.perTurn; i++) {
              const samples = batch(entry, shape.sites);
              const t = now();
              await insertStream(entry.conn.db, INPUT_STREAMS.sessionSamples, samples);
              list.push(now() - t);
            }
            const wal = await walSince(entry.database, lsn);
            entry.walBytes.set(shape.sites, (entry.walBytes.get(shape.sites) ?? 0) + wal);
          }
        }
      }
      const reference = prepared[0];
      if (!reference) throw new Error("skip");
      for (const entry of prepared) {
        if (entry.error) {
          rows.push({ metric: entry.variant.name, value: entry.error });
          continue;
        }
        const result: Record<string, unknown> = {};
        for (const [sites, list] of entry.latencies) {
          const s = summarize(list);
          const ref = summarize(reference?.latencies.get(sites) ?? []);
          const walPerBatch = (entry.walBytes.get(sites) ?? 0) / s.n;
          result[`sites_${sites}`] = {
            latencyMs: s,
            usPerEvent: (s.mean / (sites * 20)) * 1000,
            walBytesPerBatch: walPerBatch,
          };
          rows.push({
            metric: `${entry.variant.name}: batch of ${sites} site(s) = ${fmtNum(sites * 20)} samples, mean (p50)`,
            value: `${fmtMs(s.mean)} (${fmtMs(s.p50)}) = ${fmtUs(s.mean / (sites * 20))}/event, ${fmtNum(walPerBatch / 1024)} kB WAL`,
            baseline: entry === reference ? "" : `${fmtMs(ref.mean)} (${fmtMs(ref.p50)})`,
            ratio: entry === reference ? "" : `${fmtNum(ref.mean / s.mean, 2)}x`,
          });
        }
        const check = await verifySetpoints(entry.database.pool, ["site-000000", "site-000500"]);
        result.verification = check;
        if (!check.ok)
          rows.push({ metric: `${entry.variant.name}: setpoints current`, value: `FAILED ${JSON.stringify(check)}` });
        whatIf[entry.variant.name] = result;
      }
    } catch (error) {
      if ((error as Error).message !== "skip") throw error;
    } finally {
      for (const entry of prepared) {
        await entry.conn?.close().catch(() => {});
        await entry.database.drop();
      }
    }
    data.whatIf = whatIf;

    // The fan-out to 1,000 graphql-ws subscribers: a CPU profile of this process (which hosts the
    // service) while commands reach all of them.
    if (parts.has("fanout")) {
      const count = 1000;
      const changes = ctx.quick ? 5 : 15;
      ctx.log(`profile: CPU profile of the service while ${changes} commands reach ${count} subscribers`);
      const database = await ctx.cluster.createDatabase("fanout");
      const { t0 } = await seedLoneSession(database);
      const service = await startService(ctx, database);
      const { clients, close } = spawnClients(ctx);
      let k = 1;
      const change = async () => {
        const limit = k % 2 === 1 ? 10 : 16;
        const measuredTs = new Date(t0.getTime() + k * 1000).toISOString();
        k += 1;
        const { ack, report } = await clients.sqlChange(database.url, limit, measuredTs, 10_000);
        const received = await report;
        return ack && received ? Math.max(...received.times) - ack.committed : null;
      };
      try {
        if (!(await clients.connect(service.wsUrl, count)))
          throw new Error(`clients did not connect: ${clients.error}`);
        let primed = false;
        for (let i = 0; i < 20 && !primed; i++) primed = (await change()) !== null;
        for (let i = 0; i < 3; i++) await change();
        const { result, summary } = await profileCpu(async () => {
          const lastMs: number[] = [];
          for (let i = 0; i < changes; i++) {
            const ms = await change();
            if (ms !== null) lastMs.push(ms);
          }
          return lastMs;
        });
        const perCommand = summary.busyMs / changes;
        const lines = [
          `CPU profile of the service process: ${changes} commands, each to ${count} graphql-ws subscribers ` +
            `(commit -> last subscriber p50 ${fmtMs(summarize(result).p50)}): ${fmtMs(summary.busyMs)} busy in ${fmtMs(summary.wallMs)}, ` +
            `${fmtMs(perCommand)} per command = ${fmtUs(perCommand / count)} per subscriber and event`,
          "  self time by package:",
          ...summary.byPackage
            .slice(0, 12)
            .map(
              (p) =>
                `    ${fmtMs(p.ms / changes).padStart(9)} per command  ${fmtNum((100 * p.ms) / summary.busyMs).padStart(3)} %  ${p.name}`,
            ),
          "  top functions (self time):",
          ...summary.topFunctions.map(
            (f) => `    ${fmtMs(f.ms / changes).padStart(9)} per command  ${f.name}  (${f.where})`,
          ),
        ];
        details.push(lines.join("\n"));
        data.fanoutProfile = { count, changes, commitToLastMs: summarize(result), ...summary };
        rows.push({
          metric: `fan-out to ${fmtNum(count)} subscribers: service CPU per command`,
          value: `${fmtMs(perCommand)} (${fmtUs(perCommand / count)} per subscriber)`,
        });
      } finally {
        await close();
        await service.stop();
        await database.drop();
      }
    }
    return { rows, data, details: details.join("\n\n") };
  },
};
