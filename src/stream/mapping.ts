// Decoded rows of the published tables -> typed change events. Each domain maps its own rows.
import { alertFromRow } from "../alerts/alerts.js";
import { commandFromRow } from "../setpoints/command.js";
import type { ChangeEvent } from "./events.js";
import type { Relation, Tuple } from "./pgoutput.js";

/**
 * The event for an inserted or updated row, or null for a table the stream does not map. Rows of
 * the feed are events once numbered: the INSERT (cursor still null) is skipped, the UPDATE that
 * numbers the row at commit (sql/080_feed.sql) is the event.
 */
export function toChangeEvent(relation: Relation, row: Tuple): ChangeEvent | null {
  if (row.cursor == null) return null;
  switch (relation.name) {
    case "setpoint_commands":
      return commandFromRow(row);
    case "alert_events":
      return alertFromRow(row);
    default:
      return null;
  }
}
