// Reads of current state and the few writes that are not events (site settings, the clock).
// The rule itself lives in SQL (migrations/002_allocation.sql); this only asks for its results.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { PriceTier } from "../domain.js";
import type { AlertRow, AllocationPolicy, SessionRow, SetpointRow, SiteRow } from "./models.js";

const setpointColumns = [
  "sp.session_id",
  "sp.site_id",
  "sp.charge_point_id",
  "sp.connector_id",
  "sp.setpoint_kw",
  "sp.commanded_kw",
  "sp.commanded_at",
  "sp.limited_by",
  "sp.price_tier",
  "sp.curtailment_pct",
  "sp.updated_at",
  "s.rated_power_kw",
  "s.current_power_kw",
  "s.soc_pct",
] as const;

function setpointQuery(db: Db) {
  return db
    .selectFrom("setpoints as sp")
    .innerJoin("sessions as s", "s.session_id", "sp.session_id")
    .select(setpointColumns);
}

export async function findSites(db: Db, siteIds?: readonly string[]): Promise<SiteRow[]> {
  let query = db.selectFrom("sites").selectAll().orderBy("site_id");
  if (siteIds) {
    if (siteIds.length === 0) return [];
    query = query.where("site_id", "in", siteIds);
  }
  return query.execute();
}

export async function findSessions(
  db: Db,
  filter: { siteIds?: readonly string[]; sessionIds?: readonly string[]; activeOnly: boolean },
): Promise<SessionRow[]> {
  let query = db
    .selectFrom("sessions")
    .selectAll()
    .orderBy("site_id")
    .orderBy("session_start_ts")
    .orderBy("session_id");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("site_id", "in", filter.siteIds);
  }
  if (filter.sessionIds) {
    if (filter.sessionIds.length === 0) return [];
    query = query.where("session_id", "in", filter.sessionIds);
  }
  if (filter.activeOnly) query = query.where("ended_at", "is", null);
  return query.execute();
}

export async function findSetpoints(
  db: Db,
  filter: { siteIds?: readonly string[]; sessionIds?: readonly string[] },
): Promise<SetpointRow[]> {
  let query = setpointQuery(db).orderBy("sp.site_id").orderBy("sp.session_id");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("sp.site_id", "in", filter.siteIds);
  }
  if (filter.sessionIds) {
    if (filter.sessionIds.length === 0) return [];
    query = query.where("sp.session_id", "in", filter.sessionIds);
  }
  return query.execute();
}

export async function findAlerts(
  db: Db,
  filter: { siteIds?: readonly string[]; activeOnly: boolean },
): Promise<AlertRow[]> {
  let query = db.selectFrom("alerts").selectAll().orderBy("raised_at", "desc").orderBy("id", "desc");
  if (filter.siteIds) {
    if (filter.siteIds.length === 0) return [];
    query = query.where("site_id", "in", filter.siteIds);
  }
  if (filter.activeOnly) query = query.where("status", "=", "ACTIVE");
  return query.execute();
}

export async function countActiveSessions(db: Db, siteIds: readonly string[]): Promise<Map<string, number>> {
  if (siteIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("sessions")
    .select(["site_id", db.fn.countAll<string>().as("n")])
    .where("site_id", "in", siteIds)
    .where("ended_at", "is", null)
    .groupBy("site_id")
    .execute();
  return new Map(rows.map((r) => [r.site_id, Number(r.n)]));
}

export interface SiteSettings {
  policy?: AllocationPolicy;
  minRateKw?: number;
  priceTierFactors?: Partial<Record<PriceTier, number>>;
  deviationThresholdKw?: number;
  deviationGraceSeconds?: number;
  deadbandKw?: number;
  sessionTimeoutSeconds?: number;
  staleTimeoutSeconds?: number;
}

/** Creates the site if needed and applies the settings; the settings trigger recomputes it. */
export async function configureSite(db: Db, siteId: string, settings: SiteSettings): Promise<SiteRow> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT lock_sites(ARRAY[${siteId}]::text[])`.execute(trx);
    const f = settings.priceTierFactors ?? {};
    const changes = {
      policy: settings.policy,
      min_rate_kw: settings.minRateKw,
      factor_off_peak: f.OFF_PEAK,
      factor_mid_peak: f.MID_PEAK,
      factor_on_peak: f.ON_PEAK,
      factor_critical_peak: f.CRITICAL_PEAK,
      deviation_threshold_kw: settings.deviationThresholdKw,
      deviation_grace_s: settings.deviationGraceSeconds,
      deadband_kw: settings.deadbandKw,
      session_timeout_s: settings.sessionTimeoutSeconds,
      stale_timeout_s: settings.staleTimeoutSeconds,
    };
    const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    if (Object.keys(defined).length > 0) {
      await trx.updateTable("sites").set(defined).where("site_id", "=", siteId).execute();
    }
    return trx.selectFrom("sites").selectAll().where("site_id", "=", siteId).executeTakeFirstOrThrow();
  });
}

export async function findPriceInterval(db: Db, siteId: string, tariffId: string, validFrom: Date) {
  return db
    .selectFrom("price_intervals")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("tariff_id", "=", tariffId)
    .where("valid_from", "=", validFrom)
    .executeTakeFirst();
}

export async function findDrEvent(db: Db, siteId: string, drEventId: string) {
  return db
    .selectFrom("dr_events")
    .selectAll()
    .where("site_id", "=", siteId)
    .where("dr_event_id", "=", drEventId)
    .executeTakeFirst();
}
