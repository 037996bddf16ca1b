// The bench's own PostgreSQL: an embedded server in a fresh folder under os.tmpdir(), one migrated
// template database, and a database per scenario cloned from it. Removed again by stop().
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type EmbeddedServer, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrate } from "../../src/db/migrate.js";
import { createDb, createPool, type Db } from "../../src/db/pool.js";

const TEMPLATE_DB = "scc_bench_template";

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  readonly db: Db;
  drop(): Promise<void>;
}

export interface PgMemory {
  /** Sum of VmRSS over every process of the cluster (counts touched shared buffers once per process). */
  readonly rssBytes: number;
  /** Sum of RssAnon (private memory) plus the largest RssShmem (shared buffers, counted once). */
  readonly privateBytes: number;
}

export interface BenchCluster {
  readonly adminUrl: string;
  readonly dataDir: string;
  readonly version: string;
  readonly logs: string[];
  createDatabase(tag: string, poolSize?: number): Promise<BenchDatabase>;
  /** Memory of the postgres processes of this cluster (null when /proc is not readable). */
  pgMemory(): Promise<PgMemory | null>;
  stop(): Promise<void>;
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function dbUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function statusKb(pid: number, fields: readonly string[]): Promise<Record<string, number> | null> {
  try {
    const text = await readFile(`/proc/${pid}/status`, "utf8");
    const out: Record<string, number> = {};
    for (const field of fields) {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
      out[field] = match ? Number(match[1]) : 0;
    }
    return out;
  } catch {
    return null;
  }
}

/** The postmaster and its children (backends, walsenders, background workers). */
async function clusterPids(postmaster: number): Promise<number[]> {
  const pids = [postmaster];
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === postmaster) pids.push(Number(entry));
  }
  return pids;
}

export async function startCluster(): Promise<BenchCluster> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-bench-pg-"));
  const logs: string[] = [];
  let server: EmbeddedServer;
  try {
    server = await startEmbeddedPostgres({ dataDir, onLog: (m) => logs.push(m) });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const adminUrl = server.connectionString;
  const databases = new Set<BenchDatabase>();
  let postmaster: number | null = null;
  // The cluster's pids, rescanned from /proc every 2 s (not on every sample: that scan costs the
  // process hosting the service real CPU).
  let pids: { at: number; list: number[] } = { at: 0, list: [] };
  let version = "?";

  const cluster: BenchCluster = {
    adminUrl,
    dataDir,
    logs,
    get version() {
      return version;
    },
    async createDatabase(tag, poolSize = 10) {
      const name = `scc_bench_${tag.replace(/\W/g, "_")}_${randomBytes(3).toString("hex")}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`);
      const url = dbUrl(adminUrl, name);
      const pool = createPool(url, poolSize);
      const db = createDb(pool);
      const database: BenchDatabase = {
        name,
        url,
        pool,
        db,
        async drop() {
          databases.delete(database);
          await db.destroy().catch(() => {});
          await adminQuery(
            adminUrl,
            `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${name}' AND NOT active`,
          ).catch(() => {});
          await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
        },
      };
      databases.add(database);
      return database;
    },
    async pgMemory() {
      if (postmaster === null) return null;
      let rss = 0;
      let anon = 0;
      let shmem = 0;
      if (Date.now() - pids.at > 2000) pids = { at: Date.now(), list: await clusterPids(postmaster) };
      for (const pid of pids.list) {
        const kb = await statusKb(pid, ["VmRSS", "RssAnon", "RssShmem"]);
        if (!kb) continue;
        rss += kb.VmRSS ?? 0;
        anon += kb.RssAnon ?? 0;
        shmem = Math.max(shmem, kb.RssShmem ?? 0);
      }
      return { rssBytes: rss * 1024, privateBytes: (anon + shmem) * 1024 };
    },
    async stop() {
      for (const database of [...databases]) await database.drop();
      await server.stop().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };

  try {
    postmaster = Number((await readFile(path.join(dataDir, "pg", "postmaster.pid"), "utf8")).split("\n")[0]);
    await adminQuery(adminUrl, `CREATE DATABASE ${TEMPLATE_DB}`);
    const pool = new pg.Pool({ connectionString: dbUrl(adminUrl, TEMPLATE_DB), max: 1 });
    try {
      await migrate(pool);
      const { rows } = await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      version = rows[0]?.v ?? "?";
    } finally {
      await pool.end();
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
