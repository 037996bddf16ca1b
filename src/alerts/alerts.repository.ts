// Alerts: raised, updated and cleared by the allocation SQL; read here.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { Page } from "../graphql/pagination.js";
import type { AlertRow } from "./alerts.js";

export async function findAlerts(
  db: Db,
  filter: { siteIds?: readonly string[]; activeOnly: boolean },
  page: Page = { first: null, after: null },
): Promise<AlertRow[]> {
  let query = db.selectFrom("alerts").selectAll().orderBy("raised_at", "desc").orderBy("id", "desc");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("site_id", "in", filter.siteIds);
  }
  if (filter.activeOnly) query = query.where("status", "=", "ACTIVE");
  // Newest first; after = the id of the last alert received (an unknown id: nothing follows).
  if (page.after !== null)
    query = query.where(
      sql<boolean>`(raised_at, id) < (SELECT a.raised_at, a.id FROM alerts a WHERE a.id = ${page.after}::int8)`,
    );
  if (page.first !== null) query = query.limit(page.first);
  return query.execute();
}
