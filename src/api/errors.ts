// GraphQL errors with codes (SPEC §6). Unknown thrown values are masked by yoga in production.
import { createGraphQLError } from "graphql-yoga";
import type { Issue } from "../ingest/validate.js";

export function badUserInput(issues: readonly Issue[]): Error {
  const summary = issues
    .slice(0, 20)
    .map((i) => `${i.field} ${i.message}`)
    .join("; ");
  const more = issues.length > 20 ? ` (and ${issues.length - 20} more)` : "";
  return createGraphQLError(`Invalid input: ${summary}${more}`, {
    extensions: {
      code: "BAD_USER_INPUT",
      field: issues[0]?.field,
      issues: issues.map((i) => ({ ...i, index: batchIndex(i.field) })),
    },
  });
}

function batchIndex(field: string): number | undefined {
  const match = /^inputs\[(\d+)\]/.exec(field);
  return match ? Number(match[1]) : undefined;
}

export function notFound(what: string): Error {
  return createGraphQLError(`${what} not found`, { extensions: { code: "NOT_FOUND" } });
}

export function forbidden(reason: string): Error {
  return createGraphQLError(`Forbidden: ${reason}`, { extensions: { code: "FORBIDDEN" } });
}
