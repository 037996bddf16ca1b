// npm run bench [-- --quick] [-- --only=ingest,graphql,...]
// Starts its own embedded PostgreSQL under os.tmpdir(), runs each scenario against a fresh
// database (and, where it needs one, the real service in-process), prints a table and writes
// bench/results/<timestamp>.json. Everything it started is stopped and removed again, also on a
// failure or Ctrl-C.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMigrations } from "../src/db/migrate.js";
import { type BenchCluster, startCluster } from "./lib/cluster.js";
import { MemoryTracker } from "./lib/memory.js";
import type { Scenario, ScenarioContext, ScenarioOutcome } from "./lib/scenario.js";
import { fmtMb } from "./lib/stats.js";
import { renderTable, type TableRow } from "./lib/table.js";
import { baselineScenario } from "./scenarios/baseline.js";
import { feedScenario } from "./scenarios/feed.js";
import { graphqlScenario } from "./scenarios/graphql.js";
import { growthScenario } from "./scenarios/growth.js";
import { ingestScenario } from "./scenarios/ingest.js";
import { kafkaScenario } from "./scenarios/kafka.js";
import { kafkaInstancesScenario } from "./scenarios/kafka-instances.js";
import { ocppScenario } from "./scenarios/ocpp.js";
import { profileScenario } from "./scenarios/profile.js";
import { soakScenario } from "./scenarios/soak.js";
import { subscribersScenario } from "./scenarios/subscribers.js";

const SCENARIOS: readonly Scenario[] = [
  ingestScenario,
  graphqlScenario,
  subscribersScenario,
  kafkaScenario,
  kafkaInstancesScenario,
  growthScenario,
  baselineScenario,
  profileScenario,
  soakScenario,
  feedScenario,
  ocppScenario,
];

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

interface Args {
  quick: boolean;
  only: string[] | null;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, only: null };
  for (const arg of argv) {
    if (arg === "--quick") args.quick = true;
    else if (arg.startsWith("--only=")) args.only = arg.slice("--only=".length).split(",").filter(Boolean);
    else if (arg === "--help" || arg === "-h") {
      console.log(
        `usage: npm run bench [-- --quick] [-- --only=<${SCENARIOS.map((s) => s.name).join("|")}>[,...]]\n` +
          `  "${SCENARIOS.filter((s) => s.optIn)
            .map((s) => s.name)
            .join(", ")}" runs only when named in --only.`,
      );
      process.exit(0);
    } else {
      console.error(`unknown argument: ${arg} (try --help)`);
      process.exit(2);
    }
  }
  if (args.only) {
    const unknown = args.only.filter((name) => !SCENARIOS.some((s) => s.name === name));
    if (unknown.length) {
      console.error(`unknown scenario: ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
      process.exit(2);
    }
  }
  return args;
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? "?";
  return {
    cpus: os.cpus().length,
    cpuModel: cpu,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const selected = SCENARIOS.filter((s) => (args.only ? args.only.includes(s.name) : !s.optIn));
  const log = (message: string) =>
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  const cleanups = new Set<() => Promise<void> | void>();
  let cluster: BenchCluster | null = null;
  let shuttingDown = false;

  const cleanup = async () => {
    for (const fn of [...cleanups].reverse()) {
      cleanups.delete(fn);
      await Promise.resolve()
        .then(fn)
        .catch((error: unknown) => log(`cleanup failed: ${(error as Error).message}`));
    }
    if (cluster) {
      const c = cluster;
      cluster = null;
      await c.stop().catch((error: unknown) => log(`stopping PostgreSQL failed: ${(error as Error).message}`));
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      log(`${signal}: stopping and removing the bench database`);
      const force = setTimeout(() => process.exit(130), 30_000);
      force.unref();
      void cleanup().finally(() => process.exit(130));
    });
  }

  const started = new Date();
  const tableRows: TableRow[] = [];
  const results: Record<string, unknown> = {};
  log(`starting embedded PostgreSQL (${args.quick ? "quick" : "full"} run: ${selected.map((s) => s.name).join(", ")})`);
  try {
    // The migrations the template database gets (the files may change while the bench runs).
    const migrations = (await loadMigrations()).map((m) => ({
      file: `${String(m.version).padStart(3, "0")}_${m.name}.sql`,
      sha256: m.checksum,
    }));
    cluster = await startCluster();
    log(`PostgreSQL ${cluster.version} in ${cluster.dataDir}`);
    const tracker = new MemoryTracker(cluster);
    for (const scenario of selected) {
      if (shuttingDown) break;
      const c = cluster;
      const ctx: ScenarioContext = {
        cluster: c,
        quick: args.quick,
        log,
        onCleanup(fn) {
          cleanups.add(fn);
          return () => cleanups.delete(fn);
        },
      };
      log(`scenario ${scenario.name}: ${scenario.title}`);
      const t0 = performance.now();
      const loadBefore = os.loadavg()[0] ?? 0;
      tracker.start();
      let outcome: ScenarioOutcome;
      try {
        outcome = await scenario.run(ctx);
      } catch (error) {
        if (shuttingDown) break;
        log(`scenario ${scenario.name} failed: ${(error as Error).stack ?? String(error)}`);
        outcome = { rows: [{ metric: "failed", value: (error as Error).message.slice(0, 200) }], data: {} };
      } finally {
        // A scenario that failed half-way may leave a service or child process behind.
        for (const fn of [...cleanups].reverse()) {
          cleanups.delete(fn);
          await Promise.resolve()
            .then(fn)
            .catch(() => {});
        }
      }
      const peaks = tracker.stop();
      const seconds = (performance.now() - t0) / 1000;
      const loadAfter = os.loadavg()[0] ?? 0;
      log(
        `scenario ${scenario.name} done in ${seconds.toFixed(1)} s (load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)})`,
      );
      const rss = `${fmtMb(peaks.nodeRssBytes)} / ${fmtMb(peaks.pgRssBytes)}`;
      const rows = outcome.skipped ? [{ metric: "skipped", value: outcome.skipped }] : outcome.rows;
      rows.forEach((row, i) => {
        tableRows.push({
          scenario: i === 0 ? scenario.name : "",
          metric: row.metric,
          value: row.value,
          baseline: row.baseline ?? "",
          ratio: row.ratio ?? "",
          peakRss: i === 0 ? rss : "",
        });
      });
      results[scenario.name] = { ...outcome, seconds, peakMemory: peaks, loadAverage1m: [loadBefore, loadAfter] };
    }
    const finished = new Date();
    const table = renderTable(tableRows);
    const fingerprint = migrations.map((m) => `${m.file.slice(0, 3)}:${m.sha256.slice(0, 8)}`).join(" ");
    console.log(
      `\nsmart-charging coordinator bench (${args.quick ? "quick" : "full"}), PostgreSQL ${cluster?.version}, ` +
        `node ${process.version}, ${os.cpus().length} CPUs, load average ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(" ")}, ` +
        `${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s\nmigrations ${fingerprint}\n`,
    );
    console.log(table);
    for (const [name, result] of Object.entries(results)) {
      const details = (result as ScenarioOutcome).details;
      if (details) console.log(`\n${name}:\n${details}`);
    }
    console.log(
      "\npeak RSS: node = this process (bench + the in-process service); pg = sum of VmRSS over the bench cluster's postgres processes (shared buffers counted per process)",
    );
    const resultsDir = path.join(BENCH_DIR, "results");
    await mkdir(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `${started.toISOString().replace(/[:.]/g, "-")}.json`);
    await writeFile(
      file,
      `${JSON.stringify(
        {
          startedAt: started.toISOString(),
          finishedAt: finished.toISOString(),
          mode: args.quick ? "quick" : "full",
          scenarios: selected.map((s) => s.name),
          machine: { ...machine(), postgres: cluster?.version },
          migrations,
          table: tableRows,
          markdown: renderTable(tableRows, true),
          results,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
