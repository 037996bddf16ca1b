// Sites: their current state (maintained by the allocation SQL) and their settings.
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { AllocationPolicy, ChargingRateUnit, OcppVersion, PriceTier } from "../domain.js";
import type { SiteRow } from "./sites.js";

export async function findSites(db: Db, siteIds?: readonly string[]): Promise<SiteRow[]> {
  let query = db.selectFrom("sites").selectAll().orderBy("site_id");
  if (siteIds) {
    if (siteIds.length === 0) return [];
    query = query.where("site_id", "in", siteIds);
  }
  return query.execute();
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
  overDemandHysteresisPct?: number;
  /** null removes the per-phase limit. */
  phaseLimitA?: number | null;
  voltageV?: number;
  ocppVersion?: OcppVersion;
  chargingRateUnit?: ChargingRateUnit;
  phases?: number;
  minCurrentA?: number;
  stackLevel?: number;
  failsafeSeconds?: number;
  /** null: back to the tariff price in force */
  reserveBidUsdKwh?: number | null;
  vehicleDrawMarginKw?: number;
  vehicleDrawMarginPct?: number;
  vehicleDrawHoldSeconds?: number;
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
      over_demand_hysteresis_pct: settings.overDemandHysteresisPct,
      phase_limit_a: settings.phaseLimitA,
      voltage_v: settings.voltageV,
      ocpp_version: settings.ocppVersion,
      charging_rate_unit: settings.chargingRateUnit,
      phases: settings.phases,
      min_current_a: settings.minCurrentA,
      stack_level: settings.stackLevel,
      failsafe_seconds: settings.failsafeSeconds,
      reserve_bid_usd_kwh: settings.reserveBidUsdKwh,
      draw_margin_kw: settings.vehicleDrawMarginKw,
      draw_margin_pct: settings.vehicleDrawMarginPct,
      draw_hold_s: settings.vehicleDrawHoldSeconds,
    };
    const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    if (Object.keys(defined).length > 0) {
      await trx.updateTable("sites").set(defined).where("site_id", "=", siteId).execute();
    }
    return trx.selectFrom("sites").selectAll().where("site_id", "=", siteId).executeTakeFirstOrThrow();
  });
}
