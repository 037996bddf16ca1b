// API keys (SPEC §7): from API_KEYS (config) and from the database (hashed, managed by admins).
// With no API_KEYS, the first start creates one admin key, keeps it in DATA_DIR and prints it once.
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Access, Role } from "../access/access.js";
import type { ApiKeySpec } from "../config.js";
import type { Db } from "../db/pool.js";

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function newKey(): string {
  return `scc_${randomBytes(24).toString("base64url")}`;
}

/** What logs and lists may show of a key. */
export function keyPrefix(key: string): string {
  return `${key.slice(0, 8)}…`;
}

export interface KeyStore {
  /** The access a bearer key grants, or null when the key is unknown or revoked. */
  authenticate(authorization: string | null | undefined): Promise<Access | null>;
}

export function bearerToken(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] ?? null;
}

export interface KeyStoreOptions {
  /** Called before each database lookup of a key (tests count them). */
  readonly onLookup?: () => void;
  /** How long an unknown key is remembered as unknown (no database lookup meanwhile). */
  readonly negativeTtlMs?: number;
  /** At most this many unknown keys are remembered (the oldest go first). */
  readonly negativeMax?: number;
}

export function createKeyStore(
  db: Db,
  configured: readonly ApiKeySpec[] | null,
  options: KeyStoreOptions = {},
): KeyStore {
  const { onLookup, negativeTtlMs = 5_000, negativeMax = 10_000 } = options;
  /** Hash of an unknown or revoked key → when that answer expires. Never holds a working key. */
  const unknown = new Map<string, number>();
  const fromConfig = new Map<string, Access>();
  for (const spec of configured ?? []) {
    const hash = hashKey(spec.key);
    fromConfig.set(hash, {
      role: spec.role,
      sites: spec.sites ? new Set(spec.sites) : null,
      // The prefix to recognise it, and part of the hash so two keys with the same prefix do not
      // share a rate limit or a cap.
      keyId: `env:${keyPrefix(spec.key)}${hash.slice(0, 8)}`,
    });
  }
  return {
    async authenticate(authorization) {
      const key = bearerToken(authorization);
      if (!key || key.length > 200) return null;
      const hash = hashKey(key);
      const configuredAccess = fromConfig.get(hash);
      if (configuredAccess) return configuredAccess;
      const expires = unknown.get(hash);
      if (expires !== undefined) {
        if (expires > Date.now()) return null;
        unknown.delete(hash);
      }
      onLookup?.();
      const row = await db
        .selectFrom("api_keys")
        .select(["id", "role", "sites"])
        .where("key_hash", "=", hash)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      if (!row) {
        unknown.set(hash, Date.now() + negativeTtlMs);
        if (unknown.size > negativeMax) {
          const oldest = unknown.keys().next().value;
          if (oldest !== undefined) unknown.delete(oldest);
        }
        return null;
      }
      return { role: row.role as Role, sites: row.sites ? new Set(row.sites) : null, keyId: `db:${row.id}` };
    },
  };
}

export async function createApiKey(
  db: Db,
  spec: { role: Role; sites: readonly string[] | null; description: string },
): Promise<{ key: string; id: string }> {
  const key = newKey();
  const row = await db
    .insertInto("api_keys")
    .values({
      key_hash: hashKey(key),
      key_prefix: keyPrefix(key),
      role: spec.role,
      sites: spec.sites ? [...spec.sites] : null,
      description: spec.description,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { key, id: row.id };
}

export const ADMIN_KEY_FILE = "admin-api-key";

/**
 * With no API_KEYS: makes sure an admin key exists. Returns the key when this call created it
 * (the caller prints it once), null when it existed already.
 */
export async function ensureBootstrapAdminKey(db: Db, dataDir: string): Promise<{ key: string; file: string } | null> {
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  const existing = await readFile(file, "utf8").then(
    (text) => text.trim(),
    () => null,
  );
  if (existing) {
    const known = await db
      .selectFrom("api_keys")
      .select("id")
      .where("key_hash", "=", hashKey(existing))
      .executeTakeFirst();
    if (!known) {
      await db
        .insertInto("api_keys")
        .values({
          key_hash: hashKey(existing),
          key_prefix: keyPrefix(existing),
          role: "admin",
          description: "bootstrap admin key",
        })
        .execute();
    }
    return null;
  }
  const { key } = await createApiKey(db, { role: "admin", sites: null, description: "bootstrap admin key" });
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { key, file };
}
