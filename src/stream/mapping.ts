// Decoded rows of the published tables -> typed change events.
import type { AlertEvent, ChangeEvent, SetpointCommandEvent } from "./events.js";
import type { Relation, Tuple } from "./pgoutput.js";

const str = (v: unknown): string => (v == null ? "" : String(v));
const strOrNull = (v: unknown): string | null => (v == null ? null : String(v));
const num = (v: unknown): number => (typeof v === "number" ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v == null ? null : num(v));
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v == null ? null : date(v));

export function commandEvent(row: Tuple): SetpointCommandEvent {
  return {
    kind: "command",
    seq: str(row.seq),
    commandId: str(row.command_id),
    sessionId: str(row.session_id),
    siteId: str(row.site_id),
    chargePointId: str(row.charge_point_id),
    connectorId: num(row.connector_id),
    setpointKw: num(row.setpoint_kw),
    previousKw: numOrNull(row.previous_kw),
    limitedBy: str(row.limited_by),
    ratedPowerKw: num(row.rated_power_kw),
    currentPowerKw: numOrNull(row.current_power_kw),
    socPct: numOrNull(row.soc_pct),
    priceTier: str(row.price_tier),
    curtailmentPct: num(row.curtailment_pct),
    commandTs: date(row.command_ts),
  };
}

export function alertEvent(row: Tuple): AlertEvent {
  return {
    kind: "alert",
    id: str(row.id),
    type: str(row.type),
    siteId: str(row.site_id),
    sessionId: strOrNull(row.session_id),
    status: row.status === "CLEARED" ? "CLEARED" : "ACTIVE",
    raisedAt: date(row.raised_at),
    updatedAt: date(row.updated_at),
    clearedAt: dateOrNull(row.cleared_at),
    // Never TOASTed in practice (a short formatted sentence); an unchanged TOAST value would be
    // undefined here because alerts keep the default replica identity.
    message: str(row.message),
  };
}

/** The event for an inserted or updated row, or null for a table the stream does not map. */
export function toChangeEvent(relation: Relation, row: Tuple): ChangeEvent | null {
  switch (relation.name) {
    case "setpoint_commands":
      return commandEvent(row);
    case "alerts":
      return alertEvent(row);
    default:
      return null;
  }
}
