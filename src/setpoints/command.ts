// A setpoint command, defined once. The outbox row (setpoint_commands, written by the allocation
// SQL) becomes a change event, a Kafka message and a GraphQL SetpointCommand, each derived from
// COMMAND_FIELDS below: adding a field to every command is a column, its value in the SQL that
// inserts commands, and one line here.
import type { OcppVersion, PriceTier, SetpointLimit } from "../domain.js";
import { camelToSnake } from "../lib/case.js";

/** One row of setpoint_commands (the outbox), as committed. */
export interface SetpointCommand {
  kind: "command";
  /** bigserial, as a string (int8 does not fit a JS number in general). */
  seq: string;
  /** The feed position (docs/feed.md): assigned at commit, totally ordered in commit order; a decimal string. */
  cursor: string;
  commandId: string;
  sessionId: string;
  siteId: string;
  chargePointId: string;
  connectorId: number;
  setpointKw: number;
  previousKw: number | null;
  limitedBy: SetpointLimit;
  ratedPowerKw: number;
  currentPowerKw: number | null;
  socPct: number | null;
  priceTier: PriceTier;
  curtailmentPct: number;
  commandTs: Date;
  /** The charge point's OCPP version (SPEC §11; null only on commands older than the field). */
  ocppVersion: OcppVersion | null;
  /** The ready-to-send SetChargingProfile request (docs/ocpp.md), built with the outbox row. */
  ocppRequest: Record<string, unknown> | null;
  /** When the transaction that wrote it began (the event's arrival): for the event-to-command latency. */
  createdAt: Date;
}

export type CommandField = Exclude<keyof SetpointCommand, "kind">;

/** How a field is read from a decoded row and shown on GraphQL. `internal`: not on Kafka or GraphQL. */
export interface FieldSpec {
  readonly type: "id" | "string" | "int" | "float" | "timestamp" | "limit" | "tier" | "json";
  readonly nullable?: true;
  readonly internal?: true;
  readonly description?: string;
}

/** The column of each field is its snake_case name. Order is the order of the Kafka message. */
export const COMMAND_FIELDS = {
  seq: { type: "string", internal: true },
  cursor: { type: "string", description: "Position in the command feed (commit order); resume after it" },
  commandId: { type: "id", description: "Unique per command, for de-duplication" },
  sessionId: { type: "id" },
  chargePointId: { type: "string" },
  connectorId: { type: "int" },
  siteId: { type: "id" },
  setpointKw: { type: "float", description: "The kW the session may draw from now on" },
  previousKw: { type: "float", nullable: true, description: "The previous command's kW (none: the first)" },
  limitedBy: { type: "limit" },
  priceTier: { type: "tier" },
  curtailmentPct: { type: "float" },
  ratedPowerKw: { type: "float" },
  currentPowerKw: { type: "float", nullable: true },
  socPct: { type: "float", nullable: true },
  commandTs: { type: "timestamp" },
  ocppVersion: { type: "string", nullable: true, description: "The charge point's OCPP version: V16 or V201" },
  ocppRequest: {
    type: "json",
    nullable: true,
    description: "The SetChargingProfile request for that version, ready to send unchanged (docs/ocpp.md)",
  },
  createdAt: { type: "timestamp", internal: true },
} as const satisfies { readonly [F in CommandField]: FieldSpec };

const FIELD_ENTRIES = Object.entries(COMMAND_FIELDS) as [CommandField, FieldSpec][];

function readValue(spec: FieldSpec, value: unknown): unknown {
  if (value == null) return spec.nullable ? null : spec.type === "int" || spec.type === "float" ? Number.NaN : "";
  switch (spec.type) {
    case "int":
    case "float":
      return typeof value === "number" ? value : Number(value);
    case "timestamp":
      return value instanceof Date ? value : new Date(String(value));
    case "json":
      // pgoutput sends jsonb as its text; a pg query already parsed it.
      return typeof value === "string" ? JSON.parse(value) : value;
    default:
      return String(value);
  }
}

/** A decoded setpoint_commands row (pgoutput gives text or typed values) as a command. */
export function commandFromRow(row: Readonly<Record<string, unknown>>): SetpointCommand {
  const command: Record<string, unknown> = { kind: "command" };
  for (const [field, spec] of FIELD_ENTRIES) command[field] = readValue(spec, row[camelToSnake(field)]);
  return command as unknown as SetpointCommand;
}

type Snake<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${Snake<Tail>}`
  : S;

type PublicField = {
  [F in CommandField]: (typeof COMMAND_FIELDS)[F] extends { internal: true } ? never : F;
}[CommandField];

/** The JSON value of a command on the command topic: every public field in snake_case, times ISO-8601. */
export type CommandMessage = {
  [F in PublicField as Snake<F>]: SetpointCommand[F] extends Date ? string : SetpointCommand[F];
};

export function commandMessage(command: SetpointCommand): CommandMessage {
  const message: Record<string, unknown> = {};
  for (const [field, spec] of FIELD_ENTRIES) {
    if (spec.internal) continue;
    const value = command[field];
    message[camelToSnake(field)] = value instanceof Date ? value.toISOString() : value;
  }
  return message as CommandMessage;
}
