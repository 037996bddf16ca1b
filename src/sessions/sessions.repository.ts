// Sessions: the current state of each session, maintained by the ingest triggers.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { Page } from "../graphql/pagination.js";
import type { SessionRow } from "./sessions.js";

export async function findSessions(
  db: Db,
  filter: { siteIds?: readonly string[]; sessionIds?: readonly string[]; activeOnly: boolean },
  page: Page = { first: null, after: null },
): Promise<SessionRow[]> {
  let query = db
    .selectFrom("sessions")
    .selectAll()
    .orderBy("site_id")
    .orderBy("session_start_ts")
    .orderBy("session_id");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("site_id", "in", filter.siteIds);
  }
  if (filter.sessionIds) {
    if (filter.sessionIds.length === 0) return [];
    query = query.where("session_id", "in", filter.sessionIds);
  }
  if (filter.activeOnly) query = query.where("ended_at", "is", null);
  // after = the id of the last session received (an unknown id: nothing follows).
  if (page.after !== null)
    query = query.where(
      sql<boolean>`(site_id, session_start_ts, session_id) > (SELECT s.site_id, s.session_start_ts, s.session_id FROM sessions s WHERE s.session_id = ${page.after})`,
    );
  if (page.first !== null) query = query.limit(page.first);
  return query.execute();
}

/** The stored site of each known session (a session id is global; its site is where it was last sampled). */
export async function findSessionSites(db: Db, sessionIds: readonly string[]): Promise<Map<string, string>> {
  if (sessionIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("sessions")
    .select(["session_id", "site_id"])
    .where("session_id", "in", [...new Set(sessionIds)])
    .execute();
  return new Map(rows.map((r) => [r.session_id, r.site_id]));
}

export async function countActiveSessions(db: Db, siteIds: readonly string[]): Promise<Map<string, number>> {
  if (siteIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("sessions")
    .select(["site_id", db.fn.countAll<string>().as("n")])
    .where("site_id", "in", siteIds)
    .where("ended_at", "is", null)
    .groupBy("site_id")
    .execute();
  return new Map(rows.map((r) => [r.site_id, Number(r.n)]));
}
