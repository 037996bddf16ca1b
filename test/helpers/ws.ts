// A CPMS-like graphql-ws client that collects events of one subscription.
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { TEST_KEYS } from "./app.js";
import { until } from "./until.js";

export interface Collected<T> {
  readonly events: T[];
  readonly errors: unknown[];
  completed: boolean;
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
  dispose(): void;
}

const connected = new WeakMap<Client, Promise<void>>();

export function wsClient(
  url: string,
  connectionParams: Record<string, unknown> = { authorization: `Bearer ${TEST_KEYS.admin}` },
): Client {
  const client = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  connected.set(client, new Promise((resolve) => client.on("connected", () => resolve())));
  return client;
}

export async function collect<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Collected<T>> {
  const collected: Collected<T> = {
    events: [],
    errors: [],
    completed: false,
    async waitFor(count, timeoutMs = 10_000) {
      await until(() => collected.events.length >= count, { timeoutMs, intervalMs: 10 }).catch(() => {
        throw new Error(
          `got ${collected.events.length} of ${count} events; errors: ${JSON.stringify(collected.errors)}`,
        );
      });
      return collected.events;
    },
    dispose: () => {},
  };
  let failed!: () => void;
  const ready = Promise.race([
    connected.get(client),
    new Promise<void>((resolve) => {
      failed = resolve;
    }),
  ]);
  collected.dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        if (value.data) collected.events.push(value.data as T);
        if (value.errors) collected.errors.push(...value.errors);
      },
      error: (error) => {
        collected.errors.push(error);
        collected.completed = true;
        failed();
      },
      complete: () => {
        collected.completed = true;
      },
    },
  );
  await ready;
  // The subscribe message follows the ack; give the server a moment to register it.
  await new Promise((r) => setTimeout(r, 100));
  return collected;
}
