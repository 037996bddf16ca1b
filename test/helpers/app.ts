// Starts the real service on a free port against this file's own database.
import type { AppOptions } from "../../src/app.js";
import { type Config, loadConfig, parseApiKeys } from "../../src/config.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { bearer, type GraphQLResponse, type RunningService, startService } from "./service.js";

export { bearer, type GraphQLResponse } from "./service.js";

/** Keys every test app accepts (API_KEYS): one per role, and a reader limited to two sites. */
export const TEST_KEYS = {
  admin: "test-admin-key-0001",
  ingest: "test-ingest-key-0001",
  cpms: "test-cpms-key-00001",
  reader: "test-reader-key-0001",
  siteReader: "test-site-reader-01",
  siteIngest: "test-site-ingest-01",
  siteCpms: "test-site-cpms-0001",
} as const;

export const TEST_API_KEYS = parseApiKeys(
  [
    `${TEST_KEYS.admin}:admin`,
    `${TEST_KEYS.ingest}:ingest`,
    `${TEST_KEYS.cpms}:cpms`,
    `${TEST_KEYS.reader}:reader`,
    `${TEST_KEYS.siteReader}:reader:site-a,site-b`,
    `${TEST_KEYS.siteIngest}:ingest:site-a`,
    `${TEST_KEYS.siteCpms}:cpms:site-a`,
  ].join(";"),
);

export interface TestApp extends Pick<RunningService, "app" | "url" | "wsUrl" | "stop"> {
  readonly database: TestDatabase;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<T>>;
}

export async function startTestApp(
  overrides: Partial<Config> = {},
  database?: TestDatabase,
  options: AppOptions = {},
): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  const config: Config = {
    ...loadConfig({ NODE_ENV: "test" }),
    databaseUrl: db.url,
    port: 0,
    apiKeys: TEST_API_KEYS,
    rateLimitPerSecond: 0,
    ...overrides,
  };
  const service = await startService(config, options);
  return {
    app: service.app,
    url: service.url,
    wsUrl: service.wsUrl,
    database: db,
    async gql(query, variables, headers = bearer(TEST_KEYS.admin)) {
      return (await service.post<never>(query, variables, headers)).body;
    },
    async stop() {
      await service.stop();
      if (!database) await db.drop();
    },
  };
}
