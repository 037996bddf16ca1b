// Alerts: raised, updated and cleared by the allocation SQL; read here.
import type { Db } from "../db/pool.js";
import type { AlertRow } from "./alerts.js";

export async function findAlerts(
  db: Db,
  filter: { siteIds?: readonly string[]; activeOnly: boolean },
): Promise<AlertRow[]> {
  let query = db.selectFrom("alerts").selectAll().orderBy("raised_at", "desc").orderBy("id", "desc");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("site_id", "in", filter.siteIds);
  }
  if (filter.activeOnly) query = query.where("status", "=", "ACTIVE");
  return query.execute();
}
