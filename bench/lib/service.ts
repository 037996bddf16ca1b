// The real service, in this process, on a free port, against a bench database.
import path from "node:path";
import type { App } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { SessionSample, SiteDemand } from "../../src/ingest/validate.js";
import { startService as startRealService } from "../../test/helpers/service.js";
import type { BenchDatabase } from "./cluster.js";
import type { ScenarioContext } from "./scenario.js";

/** An admin key, in case the service enforces API_KEYS (SPEC §7). */
export const BENCH_KEY = "bench-admin-key-0123456789";
export const AUTH_HEADER = { authorization: `Bearer ${BENCH_KEY}` };

export interface Service {
  readonly app: App;
  readonly url: string;
  readonly wsUrl: string;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

export async function startService(
  ctx: ScenarioContext,
  database: BenchDatabase,
  overrides: Partial<Config> = {},
): Promise<Service> {
  const config: Config = {
    ...loadConfig({ NODE_ENV: "production", LOG_LEVEL: "silent" }),
    databaseUrl: database.url,
    dataDir: path.join(ctx.cluster.dataDir, "service"),
    port: 0,
    apiKeys: [{ key: BENCH_KEY, role: "admin", sites: null }],
    // The bench measures the service, not the per-key limits (one key drives every client).
    rateLimitPerSecond: 0,
    maxConnectionsPerKey: 100_000,
    maxSubscriptionsPerKey: 100_000,
    ...overrides,
  };
  const service = await startRealService(config);
  const removeCleanup = ctx.onCleanup(() => service.stop());
  return {
    app: service.app,
    url: service.url,
    wsUrl: service.wsUrl,
    async gql<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const { status, body } = await service.post<T>(query, variables, AUTH_HEADER);
      if (body.errors?.length || !body.data) {
        throw new Error(`GraphQL error (HTTP ${status}): ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
      }
      return body.data;
    },
    async stop() {
      removeCleanup();
      await service.stop();
    },
  };
}

export const RECORD_SAMPLES = `mutation ($inputs: [SessionSampleInput!]!) { recordSessionSamples(inputs: $inputs) { accepted } }`;
export const RECORD_DEMAND = `mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id evCapKw } }`;

export function sampleInput(s: SessionSample): Record<string, unknown> {
  return {
    sessionId: s.sessionId,
    chargePointId: s.chargePointId,
    connectorId: s.connectorId,
    siteId: s.siteId,
    idTag: s.idTag,
    ratedPowerKw: s.ratedPowerKw,
    currentPowerKw: s.currentPowerKw,
    socPct: s.socPct,
    energyKwh: s.energyKwh,
    sessionStartTs: s.sessionStartTs.toISOString(),
    sampledTs: s.sampledTs.toISOString(),
  };
}

export function demandInput(d: SiteDemand): Record<string, unknown> {
  return {
    siteId: d.siteId,
    demandLimitKw: d.demandLimitKw,
    currentDemandKw: d.currentDemandKw,
    evLoadKw: d.evLoadKw,
    measuredTs: d.measuredTs.toISOString(),
  };
}
