// The access gate (SPEC §7) as one yoga/envelop plugin, so HTTP, SSE and graphql-ws get the same
// rules: a key on every request (HTTP and SSE: the Authorization header, checked when yoga parses
// the request; graphql-ws: connection_init, checked in onConnect), then, for every operation on
// every transport, when its document is parsed: a known caller, the per-key rate limit and the
// document size limit.
import { GraphQLError } from "graphql";
import type { FetchAPI, Plugin } from "graphql-yoga";
import {
  authFailuresLimited,
  badRequest,
  isDatabaseUnavailable,
  payloadTooLarge,
  rateLimited,
  serviceUnavailable,
  unauthenticated,
} from "../api/errors.js";
import type { KeyStore } from "../keys/keys.js";
import type { Access } from "./access.js";
import { createFailureLimiter, createRateLimiter, type RateLimiter } from "./rate-limit.js";

/** An HTTP body or a graphql-ws message. A batch of 10,000 samples is about 3.5 MB of JSON. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** The query text itself (variables carry the data); maxTokens bounds its parts, this its length. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;

export interface AccessGate {
  /**
   * The access a bearer key grants, or null (unknown, revoked, missing). Throws RATE_LIMITED
   * (without looking the key up) when `clientAddress` failed too often in the last minute.
   */
  authenticate(authorization: string | null | undefined, clientAddress?: string): Promise<Access | null>;
  readonly limiter: RateLimiter;
  readonly rateLimitPerSecond: number;
}

export function createAccessGate(
  keys: KeyStore,
  options: { rateLimitPerSecond: number; authFailuresPerMinute: number },
): AccessGate {
  const failures = createFailureLimiter(options.authFailuresPerMinute);
  return {
    async authenticate(authorization, clientAddress = "unknown") {
      const wait = failures.reserve(clientAddress);
      if (wait > 0) throw authFailuresLimited(options.authFailuresPerMinute, wait);
      let access: Access | null = null;
      try {
        access = await keys.authenticate(authorization);
      } catch (error) {
        // The database failed, not the caller.
        failures.refund(clientAddress);
        throw error;
      }
      if (access) failures.refund(clientAddress);
      return access;
    },
    limiter: createRateLimiter(options.rateLimitPerSecond),
    rateLimitPerSecond: options.rateLimitPerSecond,
  };
}

/** The bytes of a request body as read, not as announced: PAYLOAD_TOO_LARGE past `limit`. */
function limitBody(request: Request, limit: number, fetchAPI: FetchAPI): Request {
  if (!request.body) return request;
  let read = 0;
  // Node's own stream classes for Node's own body; whatwg-node's for its ponyfilled one (as yoga does).
  const Transform = request.body instanceof ReadableStream ? TransformStream : fetchAPI.TransformStream;
  const body = request.body.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > limit) controller.error(payloadTooLarge("Request body", read, limit));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body,
    // @ts-expect-error Node's fetch needs it for a stream body; the DOM types lack it
    duplex: "half",
  });
}

/**
 * The key in a graphql-ws connection_init payload: `authorization` or `Authorization`, or the same
 * inside a `headers` object (GraphiQL sends the headers of its editor that way).
 */
export function authorizationFromConnectionParams(
  params: Readonly<Record<string, unknown>> | undefined,
): string | null {
  if (!params) return null;
  const pick = (record: Readonly<Record<string, unknown>>): string | null => {
    for (const [name, value] of Object.entries(record)) {
      if (name.toLowerCase() === "authorization" && typeof value === "string") return value;
    }
    return null;
  };
  const headers = params.headers;
  return (
    pick(params) ?? (headers !== null && typeof headers === "object" ? pick(headers as Record<string, unknown>) : null)
  );
}

interface GateContext {
  access?: Access;
  /** The peer's address (src/api/server.ts), for the failed-authentication limit. */
  clientAddress?: string;
}

export function useAccessGate(gate: AccessGate): Plugin<GateContext> {
  return {
    // HTTP and SSE: every request to the GraphQL endpoint carries a key. (The GraphiQL page is served
    // by yoga's own plugin before this hook and carries no data; its requests send the key.)
    async onRequestParse({ request, serverContext, requestParser, setRequestParser, fetchAPI }) {
      const header = request.headers.get("authorization");
      let access: Access | null;
      try {
        access = await gate.authenticate(header, (serverContext as GateContext).clientAddress);
      } catch (error) {
        if (isDatabaseUnavailable(error)) throw serviceUnavailable("the database is unreachable");
        throw error;
      }
      if (!access) throw unauthenticated(header ? "unknown or revoked API key" : "missing API key");
      (serverContext as GateContext).access = access;
      const announced = request.headers.get("content-length");
      if (announced !== null && !/^\d+$/.test(announced)) throw badRequest("Content-Length header is invalid");
      const length = Number(announced ?? 0);
      if (length > MAX_BODY_BYTES) throw payloadTooLarge("Request body", length, MAX_BODY_BYTES);
      // A chunked body announces no length: count what is read. A body that does not parse is
      // answered without any of its text (yoga's own error quotes the JSON parser, which quotes it).
      if (requestParser && request.body) {
        const parse = requestParser;
        setRequestParser(async (req) => {
          try {
            return await parse(limitBody(req, MAX_BODY_BYTES, fetchAPI));
          } catch (error) {
            if (error instanceof GraphQLError && error.extensions?.code === "PAYLOAD_TOO_LARGE") throw error;
            if (error instanceof GraphQLError && error.extensions?.code === "BAD_REQUEST") {
              throw badRequest(error.message);
            }
            throw error;
          }
        });
      }
    },
    // Every operation, whatever the transport: yoga parses HTTP and SSE requests, and graphql-ws
    // operations go through the same enveloped parse (src/api/server.ts).
    onParse({ context, params }) {
      const access = context.access;
      if (!access) throw unauthenticated("missing API key");
      const source = typeof params.source === "string" ? params.source : params.source.body;
      const size = Buffer.byteLength(source);
      if (size > MAX_DOCUMENT_BYTES) throw payloadTooLarge("GraphQL document", size, MAX_DOCUMENT_BYTES);
      if (!gate.limiter.take(access.keyId)) throw rateLimited(gate.rateLimitPerSecond);
    },
  };
}
