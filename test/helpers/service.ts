// The real service, in this process, on a free port: buildApp from src/app.ts with a given
// configuration, plus a GraphQL-over-HTTP client. Shared by test/ (helpers/app.ts), bench/
// (lib/service.ts) and usable from sim/; no vitest imports.
import { type App, type AppOptions, buildApp } from "../../src/app.js";
import type { Config } from "../../src/config.js";

export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export interface RunningService {
  readonly app: App;
  /** The GraphQL endpoint (http://127.0.0.1:<port>/graphql). */
  readonly url: string;
  readonly wsUrl: string;
  /** POSTs one operation; the response as it came (errors are not thrown). */
  post<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: GraphQLResponse<T> }>;
  stop(): Promise<void>;
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/**
 * Builds and starts the service (`config.port` 0: a free port; a start that fails has stopped
 * what it started, see buildApp). stop() is idempotent.
 */
export async function startService(config: Config, options: AppOptions = {}): Promise<RunningService> {
  const app = buildApp(config, options);
  const { url } = await app.start();
  let stopping: Promise<void> | null = null;
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, "ws"),
    async post<T>(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as GraphQLResponse<T> };
    },
    stop() {
      stopping ??= app.stop();
      return stopping;
    },
  };
}
