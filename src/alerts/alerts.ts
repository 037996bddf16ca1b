// An alert, defined once: the alerts row, the change event the stream carries for it, and the
// mappings between them (the GraphQL Alert type shows the row).
import type { Selectable } from "kysely";
import type { AlertsTable } from "../db/types.js";
import type { AlertStatus, AlertType } from "../domain.js";

export type AlertRow = Selectable<AlertsTable>;
/** An alert as GraphQL shows it: the row, and on alertChanged events the event's feed cursor. */
export type AlertModel = AlertRow & { cursor?: string };

/** The new state of one alerts row (inserted when raised, updated while it holds and on clear). */
export interface AlertEvent {
  kind: "alert";
  /** The alert's id (bigserial, as a string). */
  id: string;
  /** The event's position in the feed (docs/feed.md), a decimal string. */
  cursor: string;
  type: AlertType;
  siteId: string;
  sessionId: string | null;
  status: AlertStatus;
  raisedAt: Date;
  updatedAt: Date;
  clearedAt: Date | null;
  message: string;
}

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

/** A row of alert_events (decoded from the change stream, or read from the log) as an event. */
export function alertFromRow(row: Readonly<Record<string, unknown>>): AlertEvent {
  return {
    kind: "alert",
    id: String(row.alert_id ?? ""),
    cursor: String(row.cursor ?? ""),
    type: String(row.type ?? "") as AlertType,
    siteId: String(row.site_id ?? ""),
    sessionId: row.session_id == null ? null : String(row.session_id),
    status: row.status === "CLEARED" ? "CLEARED" : "ACTIVE",
    raisedAt: date(row.raised_at),
    updatedAt: date(row.updated_at),
    clearedAt: row.cleared_at == null ? null : date(row.cleared_at),
    // Never TOASTed in practice (a short formatted sentence); an unchanged TOAST value would be
    // undefined here because alerts keep the default replica identity.
    message: String(row.message ?? ""),
  };
}

export function alertRowFromEvent(event: AlertEvent): AlertModel {
  return {
    cursor: event.cursor,
    id: event.id,
    type: event.type,
    site_id: event.siteId,
    session_id: event.sessionId,
    status: event.status,
    raised_at: event.raisedAt,
    updated_at: event.updatedAt,
    cleared_at: event.clearedAt,
    message: event.message,
  };
}
