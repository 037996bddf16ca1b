// Charge points and failsafe profiles in the database. The effective settings come from
// effective_charge_point() (sql/035), the same function the allocation and the OCPP requests use.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { ChargePoint, ChargePointSettings, FailsafeProfile } from "./chargepoints.js";

interface EffectiveRow {
  charge_point_id: string;
  site_id: string;
  ocpp_version: ChargePoint["ocppVersion"];
  unit: ChargePoint["chargingRateUnit"];
  phases: number;
  volts: number;
  min_current_a: number;
  granularity: number;
  stack_level: number;
  purpose_mode: ChargePoint["profilePurpose"];
  failsafe_seconds: number;
  lo_kw: number | null;
}

function toChargePoint(r: EffectiveRow): ChargePoint {
  return {
    chargePointId: r.charge_point_id,
    siteId: r.site_id,
    ocppVersion: r.ocpp_version,
    chargingRateUnit: r.unit,
    phases: r.phases,
    voltageV: r.volts,
    minCurrentA: r.min_current_a,
    limitGranularity: r.granularity,
    stackLevel: r.stack_level,
    profilePurpose: r.purpose_mode,
    failsafeSeconds: r.failsafe_seconds,
    minPowerKw: r.lo_kw,
  };
}

/** The configured charge points (of the given sites, or by id), with their effective settings. */
export async function findChargePoints(
  db: Db,
  filter: { siteIds?: readonly string[] | null; chargePointIds?: readonly string[] },
): Promise<ChargePoint[]> {
  if (filter.siteIds?.length === 0 || filter.chargePointIds?.length === 0) return [];
  const { rows } = await sql<EffectiveRow>`
    SELECT cp.charge_point_id, cp.site_id, e.ocpp_version, e.unit, e.phases, e.volts, e.min_current_a,
           e.granularity, e.stack_level, e.purpose_mode, e.failsafe_seconds, e.lo_kw
    FROM charge_points cp
    JOIN sites st ON st.site_id = cp.site_id
    CROSS JOIN LATERAL effective_charge_point(st, cp, NULL, NULL, NULL) e
    WHERE (${filter.siteIds ?? null}::text[] IS NULL OR cp.site_id = ANY (${filter.siteIds ?? null}::text[]))
      AND (${filter.chargePointIds ?? null}::text[] IS NULL
           OR cp.charge_point_id = ANY (${filter.chargePointIds ?? null}::text[]))
    ORDER BY cp.charge_point_id`.execute(db);
  return rows.map(toChargePoint);
}

/** The site a charge point is configured at, if any. */
export async function chargePointSite(db: Db, chargePointId: string): Promise<string | null> {
  const row = await db
    .selectFrom("charge_points")
    .select("site_id")
    .where("charge_point_id", "=", chargePointId)
    .executeTakeFirst();
  return row?.site_id ?? null;
}

/**
 * Sets a charge point's whole configuration (an unset field: the site's default) and recomputes
 * its site (and the site it left, if it moved) in the same transaction, so setpoints, commands
 * and the failsafe follow at once.
 */
export async function configureChargePoint(
  db: Db,
  chargePointId: string,
  siteId: string,
  settings: ChargePointSettings,
): Promise<ChargePoint> {
  return db.transaction().execute(async (trx) => {
    const previous = await trx
      .selectFrom("charge_points")
      .select("site_id")
      .where("charge_point_id", "=", chargePointId)
      .forUpdate()
      .executeTakeFirst();
    const sites = [...new Set([siteId, previous?.site_id ?? siteId])].sort();
    await sql`SELECT lock_sites(${sites}::text[])`.execute(trx);
    const values = {
      site_id: siteId,
      ocpp_version: settings.ocppVersion,
      charging_rate_unit: settings.chargingRateUnit,
      phases: settings.phases,
      voltage_v: settings.voltageV,
      min_current_a: settings.minCurrentA,
      limit_granularity: settings.limitGranularity,
      stack_level: settings.stackLevel,
      profile_purpose: settings.profilePurpose,
      failsafe_seconds: settings.failsafeSeconds,
      updated_at: sql<Date>`now()`,
    };
    await trx
      .insertInto("charge_points")
      .values({ charge_point_id: chargePointId, ...values })
      .onConflict((oc) => oc.column("charge_point_id").doUpdateSet(values))
      .execute();
    // The failsafe of the sites is rebuilt at the recompute (its settings changed).
    await trx.updateTable("site_failsafe").set({ cap_kw: null }).where("site_id", "in", sites).execute();
    await sql`SELECT recompute_sites(${sites}::text[])`.execute(trx);
    const [chargePoint] = await findChargePoints(trx, { chargePointIds: [chargePointId] });
    if (!chargePoint) throw new Error(`charge point ${chargePointId} vanished while it was configured`);
    return chargePoint;
  });
}

/** A site's failsafe profiles, one per connector (none before its first demand sample). */
export async function findFailsafeProfiles(db: Db, siteId: string): Promise<FailsafeProfile[]> {
  const row = await db.selectFrom("site_failsafe").select("profiles").where("site_id", "=", siteId).executeTakeFirst();
  return (row?.profiles as FailsafeProfile[] | undefined) ?? [];
}
