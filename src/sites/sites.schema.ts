import { requireOperation, requireSite, siteScope } from "../access/access.js";
import { badUserInput, notFound } from "../api/errors.js";
import { checkElectricalSettings } from "../chargepoints/chargepoints.js";
import { builder } from "../graphql/builder.js";
import { AllocationPolicyEnum, ChargingRateUnitEnum, OcppVersionEnum, PriceTierEnum } from "../graphql/enums.js";
import { BATCH_DESCRIPTION, IngestResultRef, validBatch } from "../graphql/ingest.js";
import { insertStream } from "../ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../ingest/streams.js";
import type { Issue } from "../ingest/validate.js";
import { findSessions } from "../sessions/sessions.repository.js";
import { ChargingSessionRef } from "../sessions/sessions.schema.js";
import { SetpointRef } from "../setpoints/setpoints.schema.js";
import type { SiteRow } from "./sites.js";
import { configureSite, findSites } from "./sites.repository.js";

const PriceTierFactorsRef = builder.objectRef<SiteRow>("PriceTierFactors").implement({
  fields: (t) => ({
    offPeak: t.exposeFloat("factor_off_peak"),
    midPeak: t.exposeFloat("factor_mid_peak"),
    onPeak: t.exposeFloat("factor_on_peak"),
    criticalPeak: t.exposeFloat("factor_critical_peak"),
  }),
});

export const SiteRef = builder.objectRef<SiteRow>("Site").implement({
  fields: (t) => ({
    id: t.exposeID("site_id"),
    demandLimitKw: t.exposeFloat("demand_limit_kw", { nullable: true }),
    currentDemandKw: t.exposeFloat("current_demand_kw", { nullable: true }),
    evLoadKw: t.exposeFloat("ev_load_kw", { nullable: true }),
    measuredTs: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.measured_ts }),
    buildingLoadKw: t.exposeFloat("building_load_kw", { nullable: true, description: "B = max(0, demand - EV load)" }),
    evCapKw: t.exposeFloat("ev_cap_kw", { nullable: true, description: "Hard EV cap C" }),
    targetKw: t.exposeFloat("target_kw", {
      nullable: true,
      description: "Soft target T = min(C, C0 x tier factor), C0 the cap before DR",
    }),
    priceTier: t.field({ type: PriceTierEnum, resolve: (s) => s.price_tier }),
    priceUsdKwh: t.exposeFloat("price_usd_kwh"),
    curtailmentPct: t.exposeFloat("curtailment_pct"),
    drEventId: t.exposeID("dr_event_id", { nullable: true }),
    policy: t.field({ type: AllocationPolicyEnum, resolve: (s) => s.policy }),
    minRateKw: t.exposeFloat("min_rate_kw"),
    priceTierFactors: t.field({ type: PriceTierFactorsRef, resolve: (s) => s }),
    deviationThresholdKw: t.exposeFloat("deviation_threshold_kw"),
    deviationGraceSeconds: t.exposeInt("deviation_grace_s"),
    deadbandKw: t.exposeFloat("deadband_kw"),
    sessionTimeoutSeconds: t.exposeInt("session_timeout_s"),
    staleTimeoutSeconds: t.exposeInt("stale_timeout_s"),
    overDemandHysteresisPct: t.exposeFloat("over_demand_hysteresis_pct", {
      description: "SITE_OVER_DEMAND clears only below the limit minus this percentage of it",
    }),
    phaseLimitA: t.exposeFloat("phase_limit_a", {
      nullable: true,
      description: "The most each grid phase may carry, amps (null: no per-phase limit)",
    }),
    phaseCurrentsA: t.exposeFloatList("phase_currents_a", {
      nullable: true,
      description: "The newest measured current per phase [L1, L2, L3], amps",
    }),
    voltageV: t.exposeFloat("voltage_v", { description: "Phase-to-neutral voltage, the default of its charge points" }),
    ocppVersion: t.field({
      type: OcppVersionEnum,
      description: "Default OCPP version of its charge points",
      resolve: (s) => s.ocpp_version,
    }),
    chargingRateUnit: t.field({
      type: ChargingRateUnitEnum,
      description: "Default unit of its configured charge points",
      resolve: (s) => s.charging_rate_unit,
    }),
    phases: t.exposeInt("phases", { description: "Default phases of its charge points" }),
    minCurrentA: t.exposeFloat("min_current_a", { description: "Default minimum current per phase, amps" }),
    stackLevel: t.exposeInt("stack_level", { description: "Default stack level of the commands' profiles" }),
    failsafeSeconds: t.exposeInt("failsafe_seconds", {
      description: "Default failsafe horizon: a command's profile is valid this long (validTo)",
    }),
    reserveBidUsdKwh: t.exposeFloat("reserve_bid_usd_kwh", {
      nullable: true,
      description: "BID_WEIGHTED: the bid of a session without one (null: the tariff price in force)",
    }),
    vehicleDrawMarginKw: t.exposeFloat("draw_margin_kw", {
      description: "VEHICLE_DRAW margin: max(this, vehicleDrawMarginPct % of the limit)",
    }),
    vehicleDrawMarginPct: t.exposeFloat("draw_margin_pct"),
    vehicleDrawHoldSeconds: t.exposeInt("draw_hold_s", {
      description: "How long (and at least two meter values) a session draws short before VEHICLE_DRAW caps it",
    }),
    nextBoundaryAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When this site's allocation next changes with no new event",
      resolve: (s) => s.next_boundary_at,
    }),
    activeSessions: t.int({
      description: "Number of active sessions",
      resolve: (s, _args, ctx) => ctx.loaders.activeSessionsBySite.load(s.site_id),
    }),
    sessions: t.field({
      type: [ChargingSessionRef],
      args: { activeOnly: t.arg.boolean({ defaultValue: true }) },
      resolve: (s, args, ctx) => findSessions(ctx.db, { siteIds: [s.site_id], activeOnly: args.activeOnly ?? true }),
    }),
    setpoints: t.field({
      type: [SetpointRef],
      resolve: (s, _args, ctx) => ctx.loaders.setpointsBySite.load(s.site_id),
    }),
  }),
});

const SiteDemandInput = builder.inputType("SiteDemandInput", {
  description: "A site demand sample from the building energy management system (SPEC §2).",
  fields: (t) => ({
    siteId: t.id({ required: true }),
    demandLimitKw: t.float({ required: true }),
    currentDemandKw: t.float({ required: true, description: "Building + EV" }),
    evLoadKw: t.float({ required: true }),
    measuredTs: t.field({ type: "DateTime", required: true }),
    phaseCurrentsA: t.floatList({ description: "Measured current per grid phase [L1, L2, L3], amps (building + EV)" }),
  }),
});

const PriceTierFactorsInput = builder.inputType("PriceTierFactorsInput", {
  fields: (t) => ({
    OFF_PEAK: t.float(),
    MID_PEAK: t.float(),
    ON_PEAK: t.float(),
    CRITICAL_PEAK: t.float(),
  }),
});

const SiteConfigInput = builder.inputType("SiteConfigInput", {
  fields: (t) => ({
    siteId: t.id({ required: true }),
    policy: t.field({ type: AllocationPolicyEnum }),
    minRateKw: t.float(),
    priceTierFactors: t.field({ type: PriceTierFactorsInput }),
    deviationThresholdKw: t.float(),
    deviationGraceSeconds: t.int(),
    deadbandKw: t.float(),
    sessionTimeoutSeconds: t.int(),
    staleTimeoutSeconds: t.int(),
    overDemandHysteresisPct: t.float(),
    phaseLimitA: t.float({ description: "The most each grid phase may carry, amps; null removes the limit" }),
    voltageV: t.float({ description: "Phase-to-neutral voltage, 100-1,000 V (default 230)" }),
    ocppVersion: t.field({ type: OcppVersionEnum, description: "Default for its charge points (V16)" }),
    chargingRateUnit: t.field({ type: ChargingRateUnitEnum, description: "Default for configured charge points (A)" }),
    phases: t.int({ description: "Default phases of its charge points, 1-3 (3)" }),
    minCurrentA: t.float({ description: "Default minimum current per phase, amps, a multiple of 0.1 (6)" }),
    stackLevel: t.int({ description: "Default stack level of the commands' profiles, 1-1000 (1)" }),
    failsafeSeconds: t.int({ description: "Default failsafe horizon, 10-604800 s (300)" }),
    reserveBidUsdKwh: t.float({
      description: "BID_WEIGHTED: the bid of a session without one, 0-100 USD/kWh; null: the tariff price in force",
    }),
    vehicleDrawMarginKw: t.float({ description: "VEHICLE_DRAW margin floor, 0.1-1000 kW (default 1)" }),
    vehicleDrawMarginPct: t.float({ description: "VEHICLE_DRAW margin as % of the limit, 0-100 (default 20)" }),
    vehicleDrawHoldSeconds: t.int({ description: "VEHICLE_DRAW hold time, 0-86400 s (default 60)" }),
  }),
});

type ConfigInput = typeof SiteConfigInput.$inferInput;

function checkSiteConfig(input: ConfigInput): Issue[] {
  const issues: Issue[] = [];
  const range = (field: string, value: number | null | undefined, min: number, max: number, integer = false) => {
    if (value === null || value === undefined) return;
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      issues.push({ field, message: `must be ${integer ? "an integer " : ""}between ${min} and ${max}, got ${value}` });
    }
  };
  if (!input.siteId || String(input.siteId).length > 200)
    issues.push({ field: "siteId", message: "must be 1-200 characters" });
  range("minRateKw", input.minRateKw, 0, 1000);
  for (const [tier, factor] of Object.entries(input.priceTierFactors ?? {}))
    range(`priceTierFactors.${tier}`, factor, 0, 1);
  range("deviationThresholdKw", input.deviationThresholdKw, 0, 1000);
  range("deviationGraceSeconds", input.deviationGraceSeconds, 0, 86_400, true);
  range("deadbandKw", input.deadbandKw, 0, 1000);
  range("sessionTimeoutSeconds", input.sessionTimeoutSeconds, 1, 7 * 86_400, true);
  range("staleTimeoutSeconds", input.staleTimeoutSeconds, 1, 7 * 86_400, true);
  range("overDemandHysteresisPct", input.overDemandHysteresisPct, 0, 50);
  issues.push(...checkElectricalSettings(input));
  range("phaseLimitA", input.phaseLimitA, 0, 100_000);
  range("reserveBidUsdKwh", input.reserveBidUsdKwh, 0, 100);
  range("vehicleDrawMarginKw", input.vehicleDrawMarginKw, 0.1, 1000);
  range("vehicleDrawMarginPct", input.vehicleDrawMarginPct, 0, 100);
  range("vehicleDrawHoldSeconds", input.vehicleDrawHoldSeconds, 0, 86_400, true);
  return issues;
}

const orUndefined = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

builder.queryFields((t) => ({
  site: t.field({
    type: SiteRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      requireSite(ctx.access, args.id.toString());
      const [site] = await findSites(ctx.db, [args.id.toString()]);
      return site ?? null;
    },
  }),
  sites: t.field({
    type: [SiteRef],
    resolve: (_root, _args, ctx) => {
      requireOperation(ctx.access, "query");
      return findSites(ctx.db, siteScope(ctx.access, null));
    },
  }),
}));

builder.mutationFields((t) => ({
  recordSiteDemand: t.field({
    type: SiteRef,
    args: { input: t.arg({ type: SiteDemandInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const checked = INPUT_STREAMS.siteDemand.check(args.input, Date.now());
      if (!checked.ok) throw badUserInput(checked.issues);
      requireSite(ctx.access, checked.value.siteId);
      await insertStream(ctx.db, INPUT_STREAMS.siteDemand, [checked.value]);
      const [site] = await findSites(ctx.db, [checked.value.siteId]);
      if (!site) throw notFound(`site ${checked.value.siteId}`);
      return site;
    },
  }),
  recordSiteDemands: t.field({
    type: IngestResultRef,
    description: BATCH_DESCRIPTION,
    args: { inputs: t.arg({ type: [SiteDemandInput], required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const batch = validBatch(args.inputs, INPUT_STREAMS.siteDemand);
      for (const demand of batch) requireSite(ctx.access, demand.siteId);
      return { accepted: await insertStream(ctx.db, INPUT_STREAMS.siteDemand, batch) };
    },
  }),
  configureSite: t.field({
    type: SiteRef,
    description: "Creates the site if needed and changes its settings; setpoints follow at once.",
    args: { input: t.arg({ type: SiteConfigInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "configure");
      const input = args.input;
      const issues = checkSiteConfig(input);
      if (issues.length > 0) throw badUserInput(issues);
      requireSite(ctx.access, input.siteId.toString());
      const factors = input.priceTierFactors;
      return configureSite(ctx.db, input.siteId.toString(), {
        policy: orUndefined(input.policy),
        minRateKw: orUndefined(input.minRateKw),
        priceTierFactors: factors
          ? {
              OFF_PEAK: orUndefined(factors.OFF_PEAK),
              MID_PEAK: orUndefined(factors.MID_PEAK),
              ON_PEAK: orUndefined(factors.ON_PEAK),
              CRITICAL_PEAK: orUndefined(factors.CRITICAL_PEAK),
            }
          : undefined,
        deviationThresholdKw: orUndefined(input.deviationThresholdKw),
        deviationGraceSeconds: orUndefined(input.deviationGraceSeconds),
        deadbandKw: orUndefined(input.deadbandKw),
        sessionTimeoutSeconds: orUndefined(input.sessionTimeoutSeconds),
        staleTimeoutSeconds: orUndefined(input.staleTimeoutSeconds),
        overDemandHysteresisPct: orUndefined(input.overDemandHysteresisPct),
        // null removes the per-phase limit; absent leaves it
        phaseLimitA: input.phaseLimitA === null ? null : orUndefined(input.phaseLimitA),
        voltageV: orUndefined(input.voltageV),
        ocppVersion: orUndefined(input.ocppVersion),
        chargingRateUnit: orUndefined(input.chargingRateUnit),
        phases: orUndefined(input.phases),
        minCurrentA: orUndefined(input.minCurrentA),
        stackLevel: orUndefined(input.stackLevel),
        failsafeSeconds: orUndefined(input.failsafeSeconds),
        // null is a value here: back to the tariff price in force
        reserveBidUsdKwh: input.reserveBidUsdKwh === null ? null : orUndefined(input.reserveBidUsdKwh),
        vehicleDrawMarginKw: orUndefined(input.vehicleDrawMarginKw),
        vehicleDrawMarginPct: orUndefined(input.vehicleDrawMarginPct),
        vehicleDrawHoldSeconds: orUndefined(input.vehicleDrawHoldSeconds),
      });
    },
  }),
}));
