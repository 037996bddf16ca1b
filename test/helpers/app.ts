// Starts the real service on a free port against this file's own database.
import { type App, buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

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
  const config: Config = { ...loadConfig({ NODE_ENV: "test" }), databaseUrl: db.url, port: 0, ...overrides };
  const app = buildApp(config);
  const { url } = await app.start();
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, "ws"),
    database: db,
    async gql(query, variables, headers = {}) {
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
