// The access gate (SPEC §7) as one yoga/envelop plugin, so HTTP, SSE and graphql-ws get the same
// rules: a key on every request (HTTP and SSE: the Authorization header, checked when yoga parses
// the request; graphql-ws: connection_init, checked in onConnect), then, for every operation on
// every transport, when its document is parsed: a known caller, the per-key rate limit and the
// document size limit.
import type { Plugin } from "graphql-yoga";
import {
  isDatabaseUnavailable,
  payloadTooLarge,
  rateLimited,
  serviceUnavailable,
  unauthenticated,
} from "../api/errors.js";
import type { KeyStore } from "../keys/keys.js";
import type { Access } from "./access.js";
import { createRateLimiter, type RateLimiter } from "./rate-limit.js";

/** An HTTP body or a graphql-ws message. A batch of 10,000 samples is about 3.5 MB of JSON. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** The query text itself (variables carry the data); maxTokens bounds its parts, this its length. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;

export interface AccessGate {
  /** The access a bearer key grants, or null (unknown, revoked, missing). */
  authenticate(authorization: string | null | undefined): Promise<Access | null>;
  readonly limiter: RateLimiter;
  readonly rateLimitPerSecond: number;
}

export function createAccessGate(keys: KeyStore, rateLimitPerSecond: number): AccessGate {
  return {
    authenticate: (authorization) => keys.authenticate(authorization),
    limiter: createRateLimiter(rateLimitPerSecond),
    rateLimitPerSecond,
  };
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
}

export function useAccessGate(gate: AccessGate): Plugin<GateContext> {
  return {
    // HTTP and SSE: every request to the GraphQL endpoint carries a key. (The GraphiQL page is served
    // by yoga's own plugin before this hook and carries no data; its requests send the key.)
    async onRequestParse({ request, serverContext }) {
      const header = request.headers.get("authorization");
      let access: Access | null;
      try {
        access = await gate.authenticate(header);
      } catch (error) {
        if (isDatabaseUnavailable(error)) throw serviceUnavailable("the database is unreachable");
        throw error;
      }
      if (!access) throw unauthenticated(header ? "unknown or revoked API key" : "missing API key");
      (serverContext as GateContext).access = access;
      const length = Number(request.headers.get("content-length") ?? 0);
      if (length > MAX_BODY_BYTES) throw payloadTooLarge("Request body", length, MAX_BODY_BYTES);
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
