// The per-operation context, built by one factory for HTTP, SSE and WebSocket alike.
import DataLoader from "dataloader";
import type { Logger } from "pino";
import type { Access } from "./access/access.js";
import type { ConnectionRegistry } from "./access/connections.js";
import type { Db } from "./db/pool.js";
import { countActiveSessions } from "./sessions/sessions.repository.js";
import type { SetpointRow } from "./setpoints/setpoints.js";
import { findSetpoints } from "./setpoints/setpoints.repository.js";
import type { Fanout } from "./stream/fanout.js";

export interface Loaders {
  setpointsBySite: DataLoader<string, SetpointRow[]>;
  setpointBySession: DataLoader<string, SetpointRow | null>;
  activeSessionsBySite: DataLoader<string, number>;
}

export interface Services {
  readonly db: Db;
  /** The setClock mutation is refused unless ALLOW_CLOCK_CONTROL=true. */
  readonly allowClockControl: boolean;
  readonly fanout: Fanout;
  readonly logger: Logger;
  /** Open graphql-ws sockets and subscriptions per key: the caps, and the sockets a revocation closes. */
  readonly connections: ConnectionRegistry;
}

export interface AppContext extends Services {
  readonly access: Access;
  readonly loaders: Loaders;
  /** SSE: the Last-Event-ID header of a reconnecting EventSource (a feed cursor); resumes after it. */
  readonly lastEventId?: string | null;
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = groups.get(k);
    if (list) list.push(row);
    else groups.set(k, [row]);
  }
  return groups;
}

/** Batched loaders: nested fields cost one query per field per request, not one per parent. */
function createLoaders(db: Db): Loaders {
  return {
    setpointsBySite: new DataLoader(async (siteIds) => {
      const groups = groupBy(await findSetpoints(db, { siteIds }), (r) => r.site_id);
      return siteIds.map((id) => groups.get(id) ?? []);
    }),
    setpointBySession: new DataLoader(async (sessionIds) => {
      const rows = await findSetpoints(db, { sessionIds });
      const byId = new Map(rows.map((r) => [r.session_id, r]));
      return sessionIds.map((id) => byId.get(id) ?? null);
    }),
    activeSessionsBySite: new DataLoader(async (siteIds) => {
      const counts = await countActiveSessions(db, siteIds);
      return siteIds.map((id) => counts.get(id) ?? 0);
    }),
  };
}

export function createContext(
  services: Services,
  access: Access,
  request: { lastEventId?: string | null } = {},
): AppContext {
  return { ...services, access, loaders: createLoaders(services.db), lastEventId: request.lastEventId ?? null };
}
