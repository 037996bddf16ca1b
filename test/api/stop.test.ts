// SPEC §13: SIGTERM or SIGINT to the process that `npm start` started stops the service and the
// embedded database, whatever the process tree.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

let dataDir: string;
const children = new Set<ChildProcess>();
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-stop-"));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const pid of processesFor(dataDir)) process.kill(Number(pid), "SIGQUIT");
  await rm(dataDir, { recursive: true, force: true });
});

function processesFor(dir: string): string[] {
  try {
    return execFileSync("pgrep", ["-f", dir], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

function npmStart(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn("npm", ["start"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "info", NODE_ENV: "development", DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`no ready line within 90 s:\n${output}`)), 90_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"http:\/\/localhost:(\d+)\/graphql"/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${output}`));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} to the npm start process stops the service and its PostgreSQL`, async () => {
    const { child, port } = await npmStart();
    expect(await portOpen(port)).toBe(true);
    expect(processesFor(path.join(dataDir, "pg")).length).toBeGreaterThan(0);
    const exited = new Promise<number | null>((resolve) => {
      child.removeAllListeners("exit");
      child.once("exit", (code) => resolve(code));
    });
    // The pid of `npm start` itself, not of anything it started.
    process.kill(child.pid as number, signal);
    await exited;
    // npm returns when its child has exited; nothing of the service may be left behind.
    const deadline = Date.now() + 15_000;
    while (processesFor(dataDir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(processesFor(dataDir)).toEqual([]);
    expect(await portOpen(port)).toBe(false);
  }, 120_000);
}
