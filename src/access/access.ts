// Who is asking (SPEC §7): a role and, optionally, the sites the key is limited to.
import { forbidden } from "../api/errors.js";
import type { Role } from "../domain.js";

export type { Role };

export interface Access {
  readonly role: Role;
  /** null: every site. */
  readonly sites: ReadonlySet<string> | null;
  /** For logs and rate limits; never the key itself. */
  readonly keyId: string;
}

export type Operation = "query" | "subscribe" | "ingest" | "configure" | "admin";

const ALLOWED: Record<Role, readonly Operation[]> = {
  admin: ["query", "subscribe", "ingest", "configure", "admin"],
  ingest: ["ingest"],
  cpms: ["query", "subscribe"],
  reader: ["query"],
};

export function requireOperation(access: Access, operation: Operation): void {
  if (!ALLOWED[access.role].includes(operation)) {
    throw forbidden(`role ${access.role} may not ${operation === "query" ? "read" : operation}`);
  }
}

export function canSeeSite(access: Access, siteId: string): boolean {
  return access.sites === null || access.sites.has(siteId);
}

export function requireSite(access: Access, siteId: string): void {
  if (!canSeeSite(access, siteId)) throw forbidden(`this key is not allowed for site ${siteId}`);
}

/** The site filter for a list query: the requested site (checked), or the key's sites, or all. */
export function siteScope(access: Access, requested: string | null | undefined): string[] | undefined {
  if (requested !== null && requested !== undefined) {
    requireSite(access, requested);
    return [requested];
  }
  return access.sites === null ? undefined : [...access.sites];
}
