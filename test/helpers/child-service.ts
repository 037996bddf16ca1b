// The service as a child process (node --import tsx src/main.ts) on a free port, for tests and
// benches that kill it with SIGKILL. No vitest imports (used by bench/ too).
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The service as a child process (node --import tsx src/main.ts), for kill -9 tests. */
export interface ChildService {
  readonly child: ChildProcess;
  /** Its stdout and stderr so far (for failure messages). */
  readonly output: string[];
  /** Its exit code (null: killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly port: number;
  /** SIGKILL unless it has exited; resolves once it has. */
  kill(): Promise<number | null>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts src/main.ts with these variables (plus PORT, NODE_ENV=test, LOG_LEVEL=warn) in a child process. */
export async function spawnService(env: Record<string, string>): Promise<ChildService> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), NODE_ENV: "test", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
  child.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    port,
    kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, "SIGKILL");
      return exited;
    },
  };
}
