import { requireOperation, requireSite, siteScope } from "../access/access.js";
import { findSetpoints } from "../allocation/allocation.repository.js";
import type { SetpointRow } from "../allocation/models.js";
import { builder } from "../graphql/builder.js";
import type { SetpointCommandEvent } from "../stream/events.js";
import { PriceTierEnum, SetpointLimitEnum } from "./enums.js";

/** A setpoint row, or a command from the change stream (which carries its command id). */
export type SetpointModel = SetpointRow & { command_id?: string; previous_kw?: number | null };

export function setpointFromCommand(event: SetpointCommandEvent): SetpointModel {
  return {
    session_id: event.sessionId,
    site_id: event.siteId,
    charge_point_id: event.chargePointId,
    connector_id: event.connectorId,
    setpoint_kw: event.setpointKw,
    commanded_kw: event.setpointKw,
    commanded_at: event.commandTs,
    limited_by: event.limitedBy,
    price_tier: event.priceTier,
    curtailment_pct: event.curtailmentPct,
    updated_at: event.commandTs,
    rated_power_kw: event.ratedPowerKw,
    current_power_kw: event.currentPowerKw,
    soc_pct: event.socPct,
    command_id: event.commandId,
    previous_kw: event.previousKw,
  };
}

export const SetpointRef = builder.objectRef<SetpointModel>("Setpoint").implement({
  description: "The kW a session may draw now, and why.",
  fields: (t) => ({
    sessionId: t.exposeID("session_id"),
    chargePointId: t.exposeString("charge_point_id"),
    connectorId: t.exposeInt("connector_id"),
    siteId: t.exposeID("site_id"),
    setpointKw: t.exposeFloat("setpoint_kw", { description: "Computed setpoint, kW, rounded down to 0.01" }),
    commandedKw: t.exposeFloat("commanded_kw", { nullable: true, description: "Last value sent as a command" }),
    commandedAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.commanded_at }),
    limitedBy: t.field({
      type: SetpointLimitEnum,
      resolve: (s) => s.limited_by as typeof SetpointLimitEnum.$inferType,
    }),
    ratedPowerKw: t.exposeFloat("rated_power_kw"),
    currentPowerKw: t.exposeFloat("current_power_kw", { nullable: true }),
    socPct: t.exposeFloat("soc_pct", { nullable: true }),
    priceTier: t.field({ type: PriceTierEnum, resolve: (s) => s.price_tier as typeof PriceTierEnum.$inferType }),
    curtailmentPct: t.exposeFloat("curtailment_pct"),
    updatedAt: t.field({ type: "DateTime", resolve: (s) => s.updated_at }),
    commandId: t.id({
      nullable: true,
      description: "On setpointChanged events: the command's unique id, for de-duplication",
      resolve: (s) => s.command_id ?? null,
    }),
    previousKw: t.float({
      nullable: true,
      description: "On setpointChanged events: the previous command",
      resolve: (s) => s.previous_kw ?? null,
    }),
  }),
});

builder.queryField("setpoints", (t) =>
  t.field({
    type: [SetpointRef],
    args: { siteId: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      return findSetpoints(ctx.db, { siteIds: siteScope(ctx.access, args.siteId?.toString()) });
    },
  }),
);

builder.subscriptionField("setpointChanged", (t) =>
  t.field({
    type: SetpointRef,
    description: "Every setpoint command of a site (or of every site the key may see), in commit order.",
    args: { siteId: t.arg.id() },
    subscribe: (_root, args, ctx) => {
      requireOperation(ctx.access, "subscribe");
      const siteId = args.siteId?.toString() ?? null;
      if (siteId !== null) requireSite(ctx.access, siteId);
      return ctx.fanout.subscribe("command", { siteId, allowedSites: ctx.access.sites });
    },
    resolve: (event) => setpointFromCommand(event),
  }),
);
