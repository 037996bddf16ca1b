// Decoded rows of the published tables -> typed change events. Each domain maps its own rows.
import { alertFromRow } from "../alerts/alerts.js";
import { commandFromRow } from "../setpoints/command.js";
import type { ChangeEvent } from "./events.js";
import type { Relation, Tuple } from "./pgoutput.js";

/** The event for an inserted or updated row, or null for a table the stream does not map. */
export function toChangeEvent(relation: Relation, row: Tuple): ChangeEvent | null {
  switch (relation.name) {
    case "setpoint_commands":
      return commandFromRow(row);
    case "alerts":
      return alertFromRow(row);
    default:
      return null;
  }
}
