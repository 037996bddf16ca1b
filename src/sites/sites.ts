// A site as stored: its settings and the current state the allocation SQL keeps on it.
import type { Selectable } from "kysely";
import type { SitesTable } from "../db/types.js";

export type SiteRow = Selectable<SitesTable>;
