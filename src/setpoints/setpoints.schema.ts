import { requireOperation, siteScope } from "../access/access.js";
import { openFeed } from "../feed/open.js";
import { builder, type SchemaTypes } from "../graphql/builder.js";
import { PriceTierEnum, SetpointLimitEnum } from "../graphql/enums.js";
import { COMMAND_FIELDS, type CommandField, type FieldSpec, type SetpointCommand } from "./command.js";
import type { SetpointRow } from "./setpoints.js";
import { findSetpoints } from "./setpoints.repository.js";

/** A setpoint row, or a command from the change stream (which carries the command itself). */
export type SetpointModel = SetpointRow & { command?: SetpointCommand };

type CommandFieldBuilder = PothosSchemaTypes.ObjectFieldBuilder<
  PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>,
  SetpointCommand
>;

/** One GraphQL field per public command field (COMMAND_FIELDS is the single definition). */
function commandField(t: CommandFieldBuilder, field: CommandField, spec: FieldSpec) {
  const options = { nullable: spec.nullable ?? false, description: spec.description };
  // The field name is a key of SetpointCommand whose value matches spec.type (checked by COMMAND_FIELDS).
  const key = field as never;
  switch (spec.type) {
    case "id":
      return t.exposeID(key, options);
    case "string":
      return t.exposeString(key, options);
    case "int":
      return t.exposeInt(key, options);
    case "float":
      return t.exposeFloat(key, options);
    case "timestamp":
      return t.field({ type: "DateTime", ...options, resolve: (c) => c[field] as Date });
    case "limit":
      return t.field({ type: SetpointLimitEnum, ...options, resolve: (c) => c.limitedBy });
    case "tier":
      return t.field({ type: PriceTierEnum, ...options, resolve: (c) => c.priceTier });
    case "json":
      return t.field({ type: "JSON", ...options, resolve: (c) => c[field] as unknown });
  }
}

export const SetpointCommandRef = builder.objectRef<SetpointCommand>("SetpointCommand").implement({
  description: "A setpoint change the CPMS must act on, as sent on Kafka (in camelCase).",
  fields: (t) =>
    Object.fromEntries(
      (Object.entries(COMMAND_FIELDS) as [CommandField, FieldSpec][])
        .filter(([, spec]) => !spec.internal)
        .map(([field, spec]) => [field, commandField(t, field, spec)]),
    ),
});

export function setpointFromCommand(event: SetpointCommand): SetpointModel {
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
    command: event,
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
    priceTier: t.field({ type: PriceTierEnum, resolve: (s) => s.price_tier }),
    curtailmentPct: t.exposeFloat("curtailment_pct"),
    updatedAt: t.field({ type: "DateTime", resolve: (s) => s.updated_at }),
    cursor: t.string({
      nullable: true,
      description: "On setpointChanged events: the command's feed cursor; subscribe with after: cursor to resume",
      resolve: (s) => s.command?.cursor ?? null,
    }),
    commandId: t.id({
      nullable: true,
      description: "On setpointChanged events: the command's unique id, for de-duplication",
      resolve: (s) => s.command?.commandId ?? null,
    }),
    previousKw: t.float({
      nullable: true,
      description: "On setpointChanged events: the previous command",
      resolve: (s) => s.command?.previousKw ?? null,
    }),
    ocppVersion: t.string({
      nullable: true,
      description: "On setpointChanged events: the charge point's OCPP version (V16 or V201)",
      resolve: (s) => s.command?.ocppVersion ?? null,
    }),
    ocppRequest: t.field({
      type: "JSON",
      nullable: true,
      description: "On setpointChanged events: the SetChargingProfile request, ready to send (docs/ocpp.md)",
      resolve: (s) => s.command?.ocppRequest ?? null,
    }),
    command: t.field({
      type: SetpointCommandRef,
      nullable: true,
      description: "On setpointChanged events: the command itself",
      resolve: (s) => s.command ?? null,
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
    description:
      "Every setpoint command of a site (or of every site the key may see), in commit order. With after: every command committed after that cursor first (from the outbox), then live, with no gap and no duplicate; CURSOR_EXPIRED past the retention.",
    args: {
      siteId: t.arg.id(),
      after: t.arg.string(),
    },
    subscribe: (_root, args, ctx) => openFeed("command", ctx, args),
    resolve: (event) => setpointFromCommand(event),
  }),
);
