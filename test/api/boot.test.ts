// Start-up, operations endpoints and graceful stop, as a newcomer and an operator see them.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openDatabase } from "../../src/db/database.js";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { startTestApp, type TestApp } from "../helpers/app.js";

describe("operations endpoints", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.stop();
  });

  test("/healthz, /readyz and /metrics", async () => {
    const base = t.url.replace(/\/graphql$/, "");
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { database: true, stream: true, kafka: "disabled" } });
    await t.gql("{ __typename }");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('scc_http_requests_total{route="/graphql",status="200"}');
    expect(metrics).toContain("scc_graphql_operations_total");
    expect(metrics).toContain("process_cpu_user_seconds_total");
    expect(metrics).toContain('scc_stream_up{reader="live"} 1');
  });

  test("GraphiQL in a browser", async () => {
    const res = await fetch(t.url, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("GraphiQL");
  });
});

test("a server without wal_level=logical is refused with a clear message", async () => {
  // A server of its own with wal_level=replica (PostgreSQL's default), in the OS temp folder.
  const dir = await mkdtemp(path.join(os.tmpdir(), "scc-wal-"));
  const server = await startEmbeddedPostgres({ dataDir: dir, walLevel: "replica" });
  try {
    await expect(
      openDatabase({ databaseUrl: server.connectionString, dataDir: "/nonexistent" }, pino({ level: "silent" })),
    ).rejects.toThrow(/wal_level=replica.*needs wal_level=logical/);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}, 90_000);

describe("npm start on an embedded PostgreSQL", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-boot-"));
  });
  const children = new Set<ChildProcess>();
  afterAll(async () => {
    // A failed assertion must not leave a service (and its PostgreSQL) running.
    const running = [...children].filter((child) => child.exitCode === null);
    await Promise.all(running.map((child) => new Promise((resolve) => child.once("exit", resolve).kill("SIGTERM"))));
    await rm(dataDir, { recursive: true, force: true });
  });

  function startService(): Promise<{ child: ChildProcess; url: string; output: string }> {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        PORT: "0",
        DATA_DIR: dataDir,
        LOG_LEVEL: "info",
        NODE_ENV: "development",
        DATABASE_URL: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    return new Promise((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`no ready line within 60 s:\n${output}`)), 60_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /"url":"(http:\/\/localhost:\d+\/graphql)"/.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve({ child, url: match[1], output });
        }
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code}:\n${output}`));
      });
    });
  }

  function stopService(child: ChildProcess): Promise<number | null> {
    return new Promise((resolve) => {
      child.removeAllListeners("exit");
      child.on("exit", (code) => resolve(code));
      child.kill("SIGTERM");
    });
  }

  function postgresProcessesFor(dir: string): string[] {
    try {
      return execFileSync("pgrep", ["-f", `${dir}/pg`], { encoding: "utf8" })
        .trim()
        .split("\n")
        .filter(Boolean);
    } catch {
      return [];
    }
  }

  async function gql(url: string, query: string) {
    const key = (await readFile(path.join(dataDir, "admin-api-key"), "utf8")).trim();
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query }),
    });
    return res.json() as Promise<{ data?: Record<string, unknown>; errors?: unknown[] }>;
  }

  test("answers, keeps its data across restarts, and leaves no postgres behind on SIGTERM", async () => {
    const first = await startService();
    // No API_KEYS: the first start created an admin key, printed it once and kept it in DATA_DIR.
    const key = (await readFile(path.join(dataDir, "admin-api-key"), "utf8")).trim();
    expect(first.output).toContain(key);
    const anonymous = await fetch(first.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(anonymous.status).toBe(401);
    expect(await gql(first.url, "{ __typename }")).toEqual({ data: { __typename: "Query" } });
    const configured = await gql(
      first.url,
      'mutation { configureSite(input: { siteId: "depot-1", minRateKw: 4 }) { id } }',
    );
    expect(configured.errors).toBeUndefined();
    expect(await stopService(first.child)).toBe(0);
    expect(postgresProcessesFor(dataDir)).toEqual([]);

    const second = await startService();
    expect(second.output).not.toContain(key);
    expect(await gql(second.url, '{ site(id: "depot-1") { id minRateKw } }')).toEqual({
      data: { site: { id: "depot-1", minRateKw: 4 } },
    });
    expect(await stopService(second.child)).toBe(0);
    expect(postgresProcessesFor(dataDir)).toEqual([]);
  }, 120_000);
});
