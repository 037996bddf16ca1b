import { requireOperation, requireSite, siteScope } from "../access/access.js";
import { badUserInput } from "../api/errors.js";
import { builder } from "../graphql/builder.js";
import { ChargingRateUnitEnum, OcppVersionEnum, ProfilePurposeEnum } from "../graphql/enums.js";
import type { ChargePoint, FailsafeProfile } from "./chargepoints.js";
import { checkChargePointSettings } from "./chargepoints.js";
import {
  chargePointSite,
  configureChargePoint,
  findChargePoints,
  findFailsafeProfiles,
} from "./chargepoints.repository.js";

export const ChargePointRef = builder.objectRef<ChargePoint>("ChargePoint").implement({
  description: "A configured charge point and its effective settings (its own, else its site's defaults).",
  fields: (t) => ({
    chargePointId: t.exposeID("chargePointId"),
    siteId: t.exposeID("siteId"),
    ocppVersion: t.field({ type: OcppVersionEnum, resolve: (c) => c.ocppVersion }),
    chargingRateUnit: t.field({ type: ChargingRateUnitEnum, resolve: (c) => c.chargingRateUnit }),
    phases: t.exposeInt("phases"),
    voltageV: t.exposeFloat("voltageV"),
    minCurrentA: t.exposeFloat("minCurrentA", { description: "Minimum current per phase (chargers in A)" }),
    limitGranularity: t.exposeFloat("limitGranularity", {
      description: "The step limits are rounded down to, in the charger's unit (0.1 A, 1 W)",
    }),
    stackLevel: t.exposeInt("stackLevel", { description: "Stack level of the commands' profiles" }),
    profilePurpose: t.field({ type: ProfilePurposeEnum, resolve: (c) => c.profilePurpose }),
    failsafeSeconds: t.exposeInt("failsafeSeconds", {
      description: "A command's profile is valid this long after the command (validTo)",
    }),
    minPowerKw: t.exposeFloat("minPowerKw", {
      nullable: true,
      description: "lo of a session on it: minimum current x voltage x phases, kW (null for W)",
    }),
  }),
});

export const FailsafeProfileRef = builder.objectRef<FailsafeProfile>("FailsafeProfile").implement({
  description:
    "A connector's TxDefaultProfile for when the coordinator is lost: install it below the commands' stack level.",
  fields: (t) => ({
    chargePointId: t.exposeID("chargePointId"),
    connectorId: t.exposeInt("connectorId"),
    ocppVersion: t.field({ type: OcppVersionEnum, resolve: (f) => f.ocppVersion }),
    chargingRateUnit: t.field({ type: ChargingRateUnitEnum, resolve: (f) => f.chargingRateUnit }),
    limit: t.exposeFloat("limit", { description: "In the charger's unit (A per phase or W)" }),
    limitKw: t.exposeFloat("limitKw"),
    numberPhases: t.exposeInt("numberPhases"),
    stackLevel: t.exposeInt("stackLevel"),
    ocppRequest: t.field({
      type: "JSON",
      description: "The SetChargingProfile request (TxDefaultProfile), ready to send",
      resolve: (f) => f.ocppRequest,
    }),
  }),
});

const ChargePointConfigInput = builder.inputType("ChargePointConfigInput", {
  description: "A charge point's whole configuration; an unset field takes the site's default.",
  fields: (t) => ({
    chargePointId: t.id({ required: true }),
    siteId: t.id({ required: true }),
    ocppVersion: t.field({ type: OcppVersionEnum, description: "V16 or V201 (site default V16)" }),
    chargingRateUnit: t.field({ type: ChargingRateUnitEnum, description: "A for AC, W for DC (site default A)" }),
    phases: t.int({ description: "1-3 (site default 3); a session's own phases win" }),
    voltageV: t.float({ description: "Phase-to-neutral, 100-1,000 V (site default 230)" }),
    minCurrentA: t.float({ description: "Per phase, a multiple of 0.1 A (site default 6, IEC 61851)" }),
    limitGranularity: t.float({ description: "A multiple of 0.1 (default 0.1 for A, 1 for W)" }),
    stackLevel: t.int({ description: "1-1000 (site default 1); the failsafe profile goes one below" }),
    profilePurpose: t.field({ type: ProfilePurposeEnum, description: "AUTO (default) or TX_DEFAULT_PROFILE" }),
    failsafeSeconds: t.int({ description: "validTo of a command's profile, seconds after it (site default 300)" }),
  }),
});

builder.mutationField("configureChargePoint", (t) =>
  t.field({
    type: ChargePointRef,
    description: "Sets a charge point's electrical model and OCPP settings; setpoints and the failsafe follow at once.",
    args: { input: t.arg({ type: ChargePointConfigInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "configure");
      const input = {
        ...args.input,
        chargePointId: String(args.input.chargePointId),
        siteId: String(args.input.siteId),
      };
      const issues = checkChargePointSettings(input);
      if (issues.length > 0) throw badUserInput(issues);
      requireSite(ctx.access, input.siteId);
      // Moving a charge point away from a site needs access to that site too.
      const previous = await chargePointSite(ctx.db, input.chargePointId);
      if (previous !== null) requireSite(ctx.access, previous);
      return configureChargePoint(ctx.db, input.chargePointId, input.siteId, {
        ocppVersion: input.ocppVersion ?? null,
        chargingRateUnit: input.chargingRateUnit ?? null,
        phases: input.phases ?? null,
        voltageV: input.voltageV ?? null,
        minCurrentA: input.minCurrentA ?? null,
        limitGranularity: input.limitGranularity ?? null,
        stackLevel: input.stackLevel ?? null,
        profilePurpose: input.profilePurpose ?? null,
        failsafeSeconds: input.failsafeSeconds ?? null,
      });
    },
  }),
);

builder.queryFields((t) => ({
  chargePoints: t.field({
    type: [ChargePointRef],
    description: "The configured charge points (of a site, or of every site the key may see).",
    args: { siteId: t.arg.id() },
    resolve: (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      return findChargePoints(ctx.db, { siteIds: siteScope(ctx.access, args.siteId?.toString()) });
    },
  }),
  failsafeProfiles: t.field({
    type: [FailsafeProfileRef],
    description:
      "Per connector of the site, the TxDefaultProfile limits that keep it under its cap if the coordinator is lost.",
    args: { siteId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      requireSite(ctx.access, args.siteId.toString());
      return findFailsafeProfiles(ctx.db, args.siteId.toString());
    },
  }),
}));
