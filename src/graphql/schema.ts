// Every domain module registers its types on the builder; importing them here builds the schema.
import "../sites/sites.schema.js";
import "../sessions/sessions.schema.js";
import "../setpoints/setpoints.schema.js";
import "../alerts/alerts.schema.js";
import "../signals/signals.schema.js";
import "../keys/keys.schema.js";
import "../clock/clock.schema.js";
import "../feed/feed.schema.js";
import "../chargepoints/chargepoints.schema.js";
import "../history/history.schema.js";
import { type GraphQLSchema, lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.js";

let schema: GraphQLSchema | undefined;

/** The schema is immutable once built; building it twice would register nothing new. */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema();
  return schema;
}

export function printSchemaSDL(schema: GraphQLSchema = buildSchema()): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
