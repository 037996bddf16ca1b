// Starts the real service on a free port against this file's own database.
import { type App, buildApp } from "../../src/app.js";
import { type Config, loadConfig, parseApiKeys } from "../../src/config.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

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

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export interface TestApp {
  readonly app: App;
  readonly url: string;
  readonly wsUrl: string;
  readonly database: TestDatabase;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

export async function startTestApp(overrides: Partial<Config> = {}, database?: TestDatabase): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  const config: Config = {
    ...loadConfig({ NODE_ENV: "test" }),
    databaseUrl: db.url,
    port: 0,
    apiKeys: TEST_API_KEYS,
    rateLimitPerSecond: 0,
    ...overrides,
  };
  const app = buildApp(config);
  const { url } = await app.start();
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, "ws"),
    database: db,
    async gql(query, variables, headers = bearer(TEST_KEYS.admin)) {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as GraphQLResponse<never>;
    },
    async stop() {
      await app.stop();
      if (!database) await db.drop();
    },
  };
}
