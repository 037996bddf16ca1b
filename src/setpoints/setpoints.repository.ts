// Setpoints: the allocation's current output per session (computed in SQL, read here).
import type { Db } from "../db/pool.js";
import type { SetpointRow } from "./setpoints.js";

const setpointColumns = [
  "sp.session_id",
  "sp.site_id",
  "sp.charge_point_id",
  "sp.connector_id",
  "sp.setpoint_kw",
  "sp.commanded_kw",
  "sp.commanded_at",
  "sp.limited_by",
  "sp.price_tier",
  "sp.curtailment_pct",
  "sp.updated_at",
  "s.rated_power_kw",
  "s.current_power_kw",
  "s.soc_pct",
] as const;

function setpointQuery(db: Db) {
  return db
    .selectFrom("setpoints as sp")
    .innerJoin("sessions as s", "s.session_id", "sp.session_id")
    .select(setpointColumns);
}

export async function findSetpoints(
  db: Db,
  filter: { siteIds?: readonly string[]; sessionIds?: readonly string[] },
): Promise<SetpointRow[]> {
  let query = setpointQuery(db).orderBy("sp.site_id").orderBy("sp.session_id");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("sp.site_id", "in", filter.siteIds);
  }
  if (filter.sessionIds) {
    if (filter.sessionIds.length === 0) return [];
    query = query.where("sp.session_id", "in", filter.sessionIds);
  }
  return query.execute();
}
