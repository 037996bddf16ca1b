// Child process of the subscribers scenario: N graphql-ws clients (the CPMS side), kept out of the
// service's process so the clients' own work does not queue behind the server on one event loop.
// Controlled over IPC; reports each command once every client has received it, with the receipt
// times on this process's wall clock (performance.timeOrigin + performance.now()).
import { type Client, createClient } from "graphql-ws";
import pg from "pg";
import WebSocket from "ws";
import { wallMs } from "../lib/stats.js";

export type ToClient =
  | {
      type: "connect";
      url: string;
      siteId: string;
      count: number;
      query: string;
      connectionParams: Record<string, unknown>;
    }
  | { type: "ping"; id: number }
  | {
      /** The same demand change written straight to PostgreSQL from here: its acknowledgement is the commit. */
      type: "sql-change";
      databaseUrl: string;
      siteId: string;
      limit: number;
      measuredTs: string;
    }
  | { type: "disconnect" }
  | { type: "exit" };

export type FromClient =
  | { type: "connected"; count: number; ms: number }
  | { type: "pong"; id: number; now: number }
  | { type: "event"; commandId: string; setpointKw: number; times: number[] }
  | { type: "sql-done"; sent: number; committed: number }
  | { type: "disconnected" }
  | { type: "error"; message: string };

interface Event {
  setpointChanged: { sessionId: string; setpointKw: number; commandId: string | null };
}

const send = (message: FromClient) => process.send?.(message);

let clients: { client: Client; dispose: () => void }[] = [];
let pending = new Map<string, { times: Float64Array; filled: number; setpointKw: number }>();

async function connect(message: Extract<ToClient, { type: "connect" }>): Promise<void> {
  const start = wallMs();
  pending = new Map();
  const connectOne = (index: number) =>
    new Promise<void>((resolve, reject) => {
      const client = createClient({
        url: message.url,
        webSocketImpl: WebSocket,
        connectionParams: message.connectionParams,
        retryAttempts: 0,
        lazy: true,
      });
      client.on("connected", () => resolve());
      const dispose = client.subscribe<Event>(
        { query: message.query, variables: { siteId: message.siteId } },
        {
          next: (value) => {
            const received = wallMs();
            const event = value.data?.setpointChanged;
            if (!event?.commandId) return;
            let entry = pending.get(event.commandId);
            if (!entry) {
              entry = {
                times: new Float64Array(message.count).fill(Number.NaN),
                filled: 0,
                setpointKw: event.setpointKw,
              };
              pending.set(event.commandId, entry);
            }
            if (Number.isNaN(entry.times[index])) {
              entry.times[index] = received;
              entry.filled += 1;
            }
            if (entry.filled === message.count) {
              pending.delete(event.commandId);
              send({
                type: "event",
                commandId: event.commandId,
                setpointKw: entry.setpointKw,
                times: [...entry.times],
              });
            }
          },
          error: (error) => {
            const text = error instanceof Error ? error.message : JSON.stringify(error);
            send({ type: "error", message: `client ${index}: ${text}` });
            reject(new Error(text));
          },
          complete: () => {},
        },
      );
      clients.push({ client, dispose });
    });
  // Connect in waves so the handshakes do not all time out at once.
  for (let i = 0; i < message.count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, message.count - i) }, (_, k) => connectOne(i + k)));
  }
  send({ type: "connected", count: clients.length, ms: wallMs() - start });
}

let sqlClient: pg.Client | null = null;

async function sqlChange(message: Extract<ToClient, { type: "sql-change" }>): Promise<void> {
  if (!sqlClient) {
    sqlClient = new pg.Client({ connectionString: message.databaseUrl });
    await sqlClient.connect();
  }
  const sent = wallMs();
  // Autocommit: PostgreSQL commits before it sends CommandComplete, so the reply marks the commit.
  await sqlClient.query(
    `INSERT INTO site_demand_raw (site_id, demand_limit_kw, current_demand_kw, ev_load_kw, measured_ts, source)
     VALUES ($1, $2, 5, 5, $3, 'graphql')`,
    [message.siteId, message.limit, message.measuredTs],
  );
  send({ type: "sql-done", sent, committed: wallMs() });
}

async function disconnect(): Promise<void> {
  for (const { client, dispose } of clients) {
    dispose();
    await client.dispose();
  }
  clients = [];
  pending = new Map();
  send({ type: "disconnected" });
}

process.on("message", (message: ToClient) => {
  const fail = (error: unknown) => send({ type: "error", message: (error as Error).message ?? String(error) });
  switch (message.type) {
    case "connect":
      connect(message).catch(fail);
      break;
    case "ping":
      send({ type: "pong", id: message.id, now: wallMs() });
      break;
    case "sql-change":
      sqlChange(message).catch(fail);
      break;
    case "disconnect":
      disconnect().catch(fail);
      break;
    case "exit":
      disconnect()
        .catch(() => {})
        .then(() => sqlClient?.end())
        .catch(() => {})
        .finally(() => process.exit(0));
      break;
  }
});
process.on("disconnect", () => process.exit(0));
