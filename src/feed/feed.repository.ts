// Reading the feed from the database: the outbox (setpoint_commands) and the alert event log
// (alert_events) by cursor, the newest cursor, and the retention horizon (docs/feed.md).
import { sql } from "kysely";
import { type AlertEvent, alertFromRow } from "../alerts/alerts.js";
import type { Db } from "../db/pool.js";
import { commandFromRow, type SetpointCommand } from "../setpoints/command.js";
import { CursorExpiredError, InvalidCursorError } from "./cursor.js";

export type FeedName = "commands" | "alerts";

export interface FeedFilter {
  /** null: every site. */
  siteIds: readonly string[] | null;
  sessionId?: string | null;
}

/** The newest cursor handed out (committed): every event at or below it is in the log. */
export async function feedHead(db: Db): Promise<bigint> {
  const row = await db.selectFrom("feed_counter").select("value").executeTakeFirst();
  return BigInt(row?.value ?? 0);
}

/** The largest cursor that may have been pruned from a feed (0: nothing pruned yet). */
export async function feedHorizon(db: Db, feed: FeedName): Promise<bigint> {
  const row = await db.selectFrom("feed_horizon").select("pruned_cursor").where("feed", "=", feed).executeTakeFirst();
  return BigInt(row?.pruned_cursor ?? 0);
}

/**
 * Checks that events after `after` are all still kept and that `after` was handed out. Throws
 * CursorExpiredError below the retention horizon, InvalidCursorError beyond the newest cursor.
 */
export async function checkCursor(db: Db, feed: FeedName, after: bigint, field = "after"): Promise<void> {
  const { rows } = await sql<{ horizon: string; head: string }>`
    SELECT (SELECT pruned_cursor FROM feed_horizon WHERE feed = ${feed}) AS horizon,
           (SELECT value FROM feed_counter) AS head`.execute(db);
  const horizon = BigInt(rows[0]?.horizon ?? 0);
  const head = BigInt(rows[0]?.head ?? 0);
  if (after < horizon) throw new CursorExpiredError(after.toString(), horizon.toString());
  if (after > head) {
    throw new InvalidCursorError(field, `${after} is beyond the newest cursor (${head}) of this feed`);
  }
}

/** Commands after a cursor, in cursor (commit) order. */
export async function readCommands(
  db: Db,
  after: bigint,
  filter: FeedFilter,
  limit: number,
): Promise<SetpointCommand[]> {
  if (filter.siteIds?.length === 0) return [];
  let query = db
    .selectFrom("setpoint_commands")
    .selectAll()
    .where("cursor", ">", after.toString())
    .orderBy("cursor")
    .limit(limit);
  if (filter.siteIds) query = query.where("site_id", "in", filter.siteIds);
  if (filter.sessionId) query = query.where("session_id", "=", filter.sessionId);
  return (await query.execute()).map((row) => commandFromRow(row));
}

/** Alert events after a cursor, in cursor (commit) order. */
export async function readAlertEvents(db: Db, after: bigint, filter: FeedFilter, limit: number): Promise<AlertEvent[]> {
  if (filter.siteIds?.length === 0) return [];
  let query = db
    .selectFrom("alert_events")
    .selectAll()
    .where("cursor", ">", after.toString())
    .orderBy("cursor")
    .limit(limit);
  if (filter.siteIds) query = query.where("site_id", "in", filter.siteIds);
  if (filter.sessionId) query = query.where("session_id", "=", filter.sessionId);
  return (await query.execute()).map((row) => alertFromRow(row));
}

/** Every event (both kinds) with after < cursor <= upTo, in cursor order. */
export async function readFeedRange(db: Db, after: bigint, upTo: bigint): Promise<(SetpointCommand | AlertEvent)[]> {
  if (upTo <= after) return [];
  const range = (q: "setpoint_commands" | "alert_events") =>
    db
      .selectFrom(q)
      .selectAll()
      .where("cursor", ">", after.toString())
      .where("cursor", "<=", upTo.toString())
      .orderBy("cursor")
      .execute();
  const [commands, alerts] = await Promise.all([range("setpoint_commands"), range("alert_events")]);
  const events: (SetpointCommand | AlertEvent)[] = [
    ...commands.map((row) => commandFromRow(row)),
    ...alerts.map((row) => alertFromRow(row)),
  ];
  return events.sort((a, b) => compareCursors(a.cursor, b.cursor));
}

export function compareCursors(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
