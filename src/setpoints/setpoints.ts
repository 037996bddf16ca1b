// A setpoint as the API shows it: the setpoints row plus the session's live values.
import type { Selectable } from "kysely";
import type { SessionsTable, SetpointsTable } from "../db/types.js";

export type SetpointRow = Selectable<SetpointsTable> &
  Pick<Selectable<SessionsTable>, "rated_power_kw" | "current_power_kw" | "soc_pct">;
