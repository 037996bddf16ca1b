// Open graphql-ws connections and subscriptions per key (SPEC §7): the caps per key, and the
// sockets a revocation must close. One registry per app, built in buildApp and passed down.
import { WS_CLOSE } from "../api/errors.js";
import type { Db } from "../db/pool.js";

/** What the registry needs of a socket. */
export interface Closable {
  close(code: number, reason: string): void;
}

export interface ConnectionLimits {
  readonly maxConnectionsPerKey: number;
  readonly maxSubscriptionsPerKey: number;
}

export interface ConnectionRegistry {
  readonly limits: ConnectionLimits;
  /** Registers an authenticated socket; false (not registered) when the key has its maximum open. */
  addSocket(keyId: string, socket: Closable): boolean;
  removeSocket(keyId: string, socket: Closable): void;
  /** Closes every open socket of the key with 4403 and ends its SSE streams; how many were closed. */
  closeKey(keyId: string, reason: string): number;
  /** An SSE subscription stream of the key, ended by closeKey; returns its unregistration. */
  addStream(keyId: string, end: () => void): () => void;
  /** Key ids with at least one open socket or SSE stream. */
  keysWithSockets(): string[];
  /** Takes a subscription slot of the key; false when the key has its maximum open. */
  acquireSubscription(keyId: string): boolean;
  releaseSubscription(keyId: string): void;
  readonly stats: { readonly sockets: number; readonly subscriptions: number };
}

export function createConnectionRegistry(limits: ConnectionLimits): ConnectionRegistry {
  const sockets = new Map<string, Set<Closable>>();
  const subscriptions = new Map<string, number>();
  const streams = new Map<string, Set<() => void>>();
  let socketCount = 0;
  let subscriptionCount = 0;
  return {
    limits,
    addSocket(keyId, socket) {
      const set = sockets.get(keyId) ?? new Set<Closable>();
      if (set.size >= limits.maxConnectionsPerKey) return false;
      if (!set.has(socket)) socketCount += 1;
      set.add(socket);
      sockets.set(keyId, set);
      return true;
    },
    removeSocket(keyId, socket) {
      const set = sockets.get(keyId);
      if (!set?.delete(socket)) return;
      socketCount -= 1;
      if (set.size === 0) sockets.delete(keyId);
    },
    closeKey(keyId, reason) {
      const ends = streams.get(keyId);
      streams.delete(keyId);
      for (const end of ends ?? []) end();
      const set = sockets.get(keyId);
      if (!set) return ends?.size ?? 0;
      sockets.delete(keyId);
      socketCount -= set.size;
      for (const socket of set) socket.close(WS_CLOSE.forbidden, reason);
      return set.size + (ends?.size ?? 0);
    },
    addStream(keyId, end) {
      const set = streams.get(keyId) ?? new Set<() => void>();
      set.add(end);
      streams.set(keyId, set);
      return () => {
        set.delete(end);
        if (set.size === 0 && streams.get(keyId) === set) streams.delete(keyId);
      };
    },
    keysWithSockets: () => [...new Set([...sockets.keys(), ...streams.keys()])],
    acquireSubscription(keyId) {
      const open = subscriptions.get(keyId) ?? 0;
      if (open >= limits.maxSubscriptionsPerKey) return false;
      subscriptions.set(keyId, open + 1);
      subscriptionCount += 1;
      return true;
    },
    releaseSubscription(keyId) {
      const open = subscriptions.get(keyId) ?? 0;
      if (open <= 0) return;
      subscriptionCount -= 1;
      if (open === 1) subscriptions.delete(keyId);
      else subscriptions.set(keyId, open - 1);
    },
    get stats() {
      return { sockets: socketCount, subscriptions: subscriptionCount };
    },
  };
}

/** Database key ids (`db:<id>`) among `keyIds` that are revoked or gone. */
export async function findRevokedKeys(db: Db, keyIds: readonly string[]): Promise<string[]> {
  const ids = keyIds.filter((k) => /^db:\d{1,18}$/.test(k)).map((k) => k.slice(3));
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom("api_keys")
    .select("id")
    .where("id", "in", ids)
    .where("revoked_at", "is", null)
    .execute();
  const active = new Set(rows.map((r) => String(r.id)));
  return ids.filter((id) => !active.has(id)).map((id) => `db:${id}`);
}

/**
 * Every `intervalMs`, closes the sockets of database keys revoked elsewhere (another instance, or
 * SQL): a revocation through this instance closes them at once (revokeApiKey). Returns stop().
 */
export function watchRevocations(
  db: Db,
  registry: ConnectionRegistry,
  options: { intervalMs: number; onError: (error: unknown) => void },
): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const keys = registry.keysWithSockets();
    if (keys.length === 0) return;
    busy = true;
    findRevokedKeys(db, keys)
      .then((revoked) => {
        for (const keyId of revoked) registry.closeKey(keyId, "Forbidden: API key revoked");
      })
      .catch(options.onError)
      .finally(() => {
        busy = false;
      });
  }, options.intervalMs);
  return () => clearInterval(timer);
}
