// The real service, in process (test/helpers/service.ts, shared with test/ and bench/) on a free port, against the database
// URL given (e.g. a test's database) or a fresh embedded PostgreSQL in the OS temp folder.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type LogLevel, loadConfig, parseApiKeys } from "../src/config.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { startService as startRealService } from "../test/helpers/service.js";

export const SIM_API_KEY = "sim-admin-key-0001";

export interface ServiceHandle {
  readonly url: string;
  readonly wsUrl: string;
  readonly apiKey: string;
  /** Prometheus metrics of the service. */
  readonly metricsUrl: string;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  /** Use this database (it must allow wal_level=logical); unset: start an ephemeral one. */
  readonly databaseUrl?: string;
  readonly logLevel?: LogLevel;
}

export async function startService(options: ServiceOptions = {}): Promise<ServiceHandle> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => {});
  };
  try {
    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-sim-pg-"));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const logs: string[] = [];
      const server = await startEmbeddedPostgres({ dataDir, onLog: (m) => logs.push(m) }).catch((error: unknown) => {
        throw new Error(`embedded PostgreSQL failed: ${String(error)}\n${logs.join("")}`);
      });
      cleanups.push(() => server.stop());
      databaseUrl = server.connectionString;
    }
    const service = await startRealService({
      ...loadConfig({ NODE_ENV: "production", LOG_LEVEL: options.logLevel ?? "warn" }),
      databaseUrl,
      port: 0,
      apiKeys: parseApiKeys(`${SIM_API_KEY}:admin`),
      allowClockControl: true,
      rateLimitPerSecond: 0,
    });
    const { url } = service;
    cleanups.push(() => service.stop());
    return {
      url,
      wsUrl: url.replace(/^http/, "ws"),
      apiKey: SIM_API_KEY,
      metricsUrl: url.replace(/\/graphql$/, "/metrics"),
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
