// Every domain module registers its types on the builder; importing them here builds the schema.
import "../api/sites.schema.js";
import "../api/sessions.schema.js";
import "../api/setpoints.schema.js";
import "../api/alerts.schema.js";
import "../api/signals.schema.js";
import "../api/keys.schema.js";
import "../api/clock.schema.js";
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
