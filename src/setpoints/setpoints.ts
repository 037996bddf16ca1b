// A setpoint as the API shows it: the setpoints row plus the session's live values.
import type { PriceTier, SetpointLimit } from "../domain.js";

export interface SetpointRow {
  session_id: string;
  site_id: string;
  charge_point_id: string;
  connector_id: number;
  setpoint_kw: number;
  commanded_kw: number | null;
  commanded_at: Date | null;
  limited_by: SetpointLimit;
  price_tier: PriceTier;
  curtailment_pct: number;
  updated_at: Date;
  rated_power_kw: number;
  current_power_kw: number | null;
  soc_pct: number | null;
}
