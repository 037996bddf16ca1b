// The one schema builder: plugins and scalars only. Types live with their domain in src/<domain>/.
import SchemaBuilder from "@pothos/core";
import { createGraphQLError } from "graphql-yoga";
import type { AppContext } from "../context.js";

export interface SchemaTypes {
  Context: AppContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: string; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
}

export const builder = new SchemaBuilder<SchemaTypes>({
  defaultFieldNullability: false,
});

// DateTime accepts any string here; the ingest validation reports a bad one as BAD_USER_INPUT
// naming the field (a scalar error could not say which batch item it came from).
builder.scalarType("DateTime", {
  description: "ISO-8601 timestamp with offset, e.g. 2026-05-01T12:00:00Z",
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: (value) => {
    if (typeof value !== "string") {
      throw createGraphQLError("DateTime must be an ISO-8601 string", { extensions: { code: "BAD_USER_INPUT" } });
    }
    return value;
  },
});

// Any JSON value, as is (the OCPP requests of commands and failsafe profiles).
builder.scalarType("JSON", {
  description: "A JSON value, e.g. an OCPP request ready to send",
  serialize: (value) => value,
  parseValue: (value) => value,
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
