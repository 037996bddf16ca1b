// Row shapes read by the API and the stream, derived from the table types.
import type { Selectable } from "kysely";
import type { AlertsTable, SessionsTable, SitesTable } from "../db/types.js";

export type { AlertStatus, AlertType, AllocationPolicy, PriceTier, SetpointLimit } from "../db/types.js";
export type { Selectable };

export type SiteRow = Selectable<SitesTable>;
export type SessionRow = Selectable<SessionsTable>;
export type AlertRow = Selectable<AlertsTable>;

/** A setpoint as the API shows it: the setpoints row plus the session's live values. */
export interface SetpointRow {
  session_id: string;
  site_id: string;
  charge_point_id: string;
  connector_id: number;
  setpoint_kw: number;
  commanded_kw: number | null;
  commanded_at: Date | null;
  limited_by: string;
  price_tier: string;
  curtailment_pct: number;
  updated_at: Date;
  rated_power_kw: number;
  current_power_kw: number | null;
  soc_pct: number | null;
}
