// Database API keys as an admin sees them. A site-scoped admin manages only keys within its sites
// (an unscoped key is outside every scope), so it can never mint or revoke wider access than it has.
import { type Expression, type SqlBool, sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { Role } from "../domain.js";

export interface ApiKeyRow {
  id: string;
  key_prefix: string;
  role: Role;
  sites: string[] | null;
  description: string;
  created_at: Date;
  revoked_at: Date | null;
}

/** null: the caller may manage every key. */
export type KeyScope = readonly string[] | null;

const columns = ["id", "key_prefix", "role", "sites", "description", "created_at", "revoked_at"] as const;

function withinScope(scope: KeyScope): Expression<SqlBool> {
  return scope === null ? sql<boolean>`true` : sql<boolean>`(sites IS NOT NULL AND sites <@ ${[...scope]}::text[])`;
}

export async function listApiKeys(db: Db, scope: KeyScope): Promise<ApiKeyRow[]> {
  const rows = await db.selectFrom("api_keys").select(columns).where(withinScope(scope)).orderBy("id").execute();
  return rows as ApiKeyRow[];
}

export async function findApiKey(db: Db, id: string): Promise<ApiKeyRow> {
  const row = await db.selectFrom("api_keys").select(columns).where("id", "=", id).executeTakeFirstOrThrow();
  return row as ApiKeyRow;
}

/** Revokes an active key within the scope; null when there is none (missing, revoked or out of scope alike). */
export async function revokeApiKey(db: Db, id: string, scope: KeyScope): Promise<ApiKeyRow | null> {
  const row = await db
    .updateTable("api_keys")
    .set({ revoked_at: new Date() })
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .where(withinScope(scope))
    .returning(columns)
    .executeTakeFirst();
  return (row as ApiKeyRow | undefined) ?? null;
}
