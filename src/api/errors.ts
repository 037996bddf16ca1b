// GraphQL errors with codes (SPEC §6). Every code a client can see is in ErrorCode; unknown thrown
// values are masked by yoga (maskDatabaseOutage turns a lost database into SERVICE_UNAVAILABLE).
import { createGraphQLError } from "graphql-yoga";
import { CursorExpiredError, InvalidCursorError } from "../feed/cursor.js";
import type { Issue } from "../ingest/validate.js";
import { SubscriberTooSlowError } from "../stream/fanout.js";

/** Every `extensions.code` the service answers with, on HTTP, SSE and graphql-ws alike. */
export type ErrorCode =
  | "BAD_USER_INPUT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "RATE_LIMITED"
  | "PAYLOAD_TOO_LARGE"
  | "SERVICE_UNAVAILABLE"
  | "SUBSCRIBER_TOO_SLOW"
  | "CURSOR_EXPIRED"
  | "TOO_MANY_OPERATIONS"
  | "TOO_MANY_SUBSCRIPTIONS"
  | "BAD_REQUEST"
  | "INTERNAL_SERVER_ERROR";

/** graphql-ws close codes beyond the protocol's own (4401 unauthorized, 4403 forbidden, …). */
export const WS_CLOSE = {
  /** The key was revoked (or its role may not subscribe). */
  forbidden: 4403,
  /** Too many connections for this key, or too many failed authentications from this address. */
  tooMany: 4429,
} as const;

/** An HTTP status (and headers) for errors raised before or instead of execution; dropped on graphql-ws. */
export interface HttpHint {
  readonly status: number;
  readonly headers?: Record<string, string>;
}

export function codedError(
  code: ErrorCode,
  message: string,
  options: { http?: HttpHint; extensions?: Record<string, unknown> } = {},
): Error {
  return createGraphQLError(message, {
    extensions: { ...options.extensions, code, ...(options.http ? { http: options.http } : {}) },
  });
}

/**
 * A live event stream as a subscription source: the stream's own errors become coded GraphQL
 * errors shown as is (the stream knows nothing of GraphQL). Closing the subscription closes it.
 */
export function subscriptionSource<T>(events: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const coded = (error: unknown): never => {
    if (error instanceof SubscriberTooSlowError) throw codedError("SUBSCRIBER_TOO_SLOW", error.message);
    throw feedError(error);
  };
  return {
    next: () => events.next().catch(coded),
    return: () => events.return?.() ?? Promise.resolve({ value: undefined, done: true }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * A feed cursor's problem as a coded error: CURSOR_EXPIRED (HTTP 410 semantics: re-list, then
 * watch from the new cursor) or BAD_USER_INPUT naming the field. Anything else is returned as is.
 */
export function feedError(error: unknown): unknown {
  if (error instanceof CursorExpiredError) {
    return codedError("CURSOR_EXPIRED", error.message, {
      http: { status: 410 },
      extensions: { cursor: error.cursor, horizon: error.horizon },
    });
  }
  if (error instanceof InvalidCursorError) return badUserInput([{ field: error.field, message: error.problem }]);
  return error;
}

export function badUserInput(issues: readonly Issue[]): Error {
  const summary = issues
    .slice(0, 20)
    .map((i) => `${i.field} ${i.message}`)
    .join("; ");
  const more = issues.length > 20 ? ` (and ${issues.length - 20} more)` : "";
  return codedError("BAD_USER_INPUT", `Invalid input: ${summary}${more}`, {
    extensions: {
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
  return codedError("NOT_FOUND", `${what} not found`);
}

export function forbidden(reason: string): Error {
  return codedError("FORBIDDEN", `Forbidden: ${reason}`);
}

export function unauthenticated(reason: string): Error {
  return codedError("UNAUTHENTICATED", `Unauthenticated: ${reason} (send Authorization: Bearer <key>)`, {
    http: { status: 401, headers: { "www-authenticate": 'Bearer realm="smart-charging"' } },
  });
}

export function rateLimited(perSecond: number): Error {
  return codedError("RATE_LIMITED", `Rate limit of ${perSecond} requests/s for this key exceeded; retry shortly`, {
    http: { status: 429, headers: { "retry-after": "1" } },
  });
}

export function authFailuresLimited(perMinute: number, retryAfterSeconds: number): Error {
  return codedError(
    "RATE_LIMITED",
    `Too many failed authentications from this address (limit ${perMinute} per minute); retry after ${retryAfterSeconds} s`,
    { http: { status: 429, headers: { "retry-after": String(retryAfterSeconds) } } },
  );
}

export function tooManyOperations(limit: number): Error {
  return codedError(
    "TOO_MANY_OPERATIONS",
    `Too many operations in flight on this connection (limit ${limit}); wait for answers before sending more`,
  );
}

export function tooManySubscriptions(limit: number): Error {
  return codedError("TOO_MANY_SUBSCRIPTIONS", `Too many open subscriptions for this key (limit ${limit})`);
}

/** A request yoga could not read, with nothing of the body echoed back. */
export function badRequest(message: string): Error {
  return codedError("BAD_REQUEST", message, { http: { status: 400 } });
}

export function payloadTooLarge(what: string, size: number, limit: number): Error {
  // Connection: close, so the rest of an unread body does not wait in a kept-alive connection.
  return codedError("PAYLOAD_TOO_LARGE", `${what} of ${size} bytes exceeds ${limit} bytes`, {
    http: { status: 413, headers: { connection: "close" } },
  });
}

/** Seconds a client should wait before retrying after SERVICE_UNAVAILABLE. */
export const RETRY_AFTER_SECONDS = 5;

export function serviceUnavailable(reason: string): Error {
  return codedError(
    "SERVICE_UNAVAILABLE",
    `Service unavailable: ${reason}; nothing was applied, retry after ${RETRY_AFTER_SECONDS} s`,
    { http: { status: 503, headers: { "retry-after": String(RETRY_AFTER_SECONDS) } } },
  );
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"]);
// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections.
const PG_UNAVAILABLE = new Set(["57P01", "57P02", "57P03", "53300"]);
const CONNECTION_MESSAGES = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error",
  "Cannot use a pool after calling end on the pool",
  "driver has already been destroyed",
  "Client was closed and is not queryable",
];

/** True when the error (or what it wraps) says the database could not be reached, not that a query was wrong. */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 5 || typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (
    typeof code === "string" &&
    (CONNECTION_CODES.has(code) || PG_UNAVAILABLE.has(code) || /^08[0-9A-Z]{3}$/.test(code))
  ) {
    return true;
  }
  if (typeof message === "string" && CONNECTION_MESSAGES.some((m) => message.includes(m))) return true;
  const { originalError, cause, errors } = error as { originalError?: unknown; cause?: unknown; errors?: unknown };
  const nested = [originalError, cause, ...(Array.isArray(errors) ? errors : [])];
  return nested.some((inner) => inner !== error && isDatabaseUnavailable(inner, depth + 1));
}
