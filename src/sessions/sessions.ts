// A charging session as stored: the newest sample of each field wins (docs/allocation.md).
import type { Selectable } from "kysely";
import type { SessionsTable } from "../db/types.js";

export type SessionRow = Selectable<SessionsTable>;
