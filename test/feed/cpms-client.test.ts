// examples/cpms-client.ts as a CPMS runs it: list, watch with the cursor, stopped and restarted
// while commands are written; every command forwarded exactly once, unchanged.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { demand, samples, setClock, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";

let database: TestDatabase;
let t: TestApp;
let dir: string;
beforeAll(async () => {
  database = await createTestDatabase();
  t = await startTestApp({}, database);
  await setClock(database.pool, T0);
  dir = mkdtempSync(path.join(os.tmpdir(), "cpms-client-"));
});
afterAll(async () => {
  await t?.stop();
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Line {
  kind: "setpoint" | "command";
  payload: { commandId?: string; cursor?: string; sessionId: string };
}

function run(lines: Line[]): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "examples/cpms-client.ts"], {
    env: {
      ...process.env,
      COORDINATOR_URL: t.url,
      API_KEY: TEST_KEYS.cpms,
      SITE_ID: "cpms-1",
      CURSOR_FILE: path.join(dir, "cursor"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let buffer = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let end = buffer.indexOf("\n");
    while (end >= 0) {
      lines.push(JSON.parse(buffer.slice(0, end)) as Line);
      buffer = buffer.slice(end + 1);
      end = buffer.indexOf("\n");
    }
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function plug(sessions: string[]): Promise<void> {
  await samples(
    database.pool,
    sessions.map((session) => ({ session, site: "cpms-1", rated: 22 })),
  );
}

test("list, watch, stop and restart: every command forwarded once, in cursor order", async () => {
  await demand(database.pool, "cpms-1", { limit: 60, current: 0, ev: 0 });
  await plug(["c-1"]);
  const lines: Line[] = [];
  let child = run(lines);
  await until(() => lines.some((l) => l.kind === "setpoint"), { timeoutMs: 30_000, what: "the listed setpoint" });
  const start = String((await database.pool.query("SELECT value FROM feed_counter")).rows[0].value);
  await new Promise((r) => setTimeout(r, 1000)); // subscribed
  await plug(["c-1", "c-2"]);
  await until(() => lines.some((l) => l.kind === "command"), { timeoutMs: 30_000, what: "a live command" });
  await stop(child);
  await plug(["c-1", "c-2", "c-3"]); // while the client is down
  child = run(lines);
  await plug(["c-1", "c-2", "c-3", "c-4"]);
  const { rows } = await database.pool.query<{ command_id: string }>(
    "SELECT command_id FROM setpoint_commands WHERE site_id = 'cpms-1' AND cursor > $1 ORDER BY cursor",
    [start],
  );
  const forwarded = () => lines.filter((l) => l.kind === "command").map((l) => l.payload.commandId);
  await until(() => forwarded().length >= rows.length, { timeoutMs: 30_000, what: "every command" });
  await new Promise((r) => setTimeout(r, 300));
  await stop(child);
  expect(forwarded()).toEqual(rows.map((r) => r.command_id));
  expect(lines.filter((l) => l.kind === "setpoint").map((l) => l.payload.sessionId)).toEqual(["c-1"]);
}, 120_000);
