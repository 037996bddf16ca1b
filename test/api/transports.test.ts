// The access gate on every transport (issue #11): the rate limit and the size limits hold for
// HTTP, SSE and graphql-ws alike, and graphql-ws takes the key the ways clients send it.
import type { Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MAX_BODY_BYTES, MAX_DOCUMENT_BYTES } from "../../src/access/gate.js";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { wsClient } from "../helpers/ws.js";

let t: TestApp;
let limited: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  // 2 requests/s per key, bursts of 4.
  limited = await startTestApp({ rateLimitPerSecond: 2 }, t.database);
});
afterAll(async () => {
  await limited?.stop();
  await t?.stop();
});

interface Outcome {
  data?: unknown;
  codes: string[];
}

/** One operation over graphql-ws, to its end. */
function overWs(client: Client, query: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { codes: [] };
    const collect = (errors: readonly { extensions?: Record<string, unknown> }[]) => {
      for (const e of errors) outcome.codes.push(String(e.extensions?.code));
    };
    client.subscribe(
      { query },
      {
        next: (value) => {
          if (value.data) outcome.data = value.data;
          if (value.errors) collect(value.errors);
        },
        error: (error) => {
          if (Array.isArray(error)) collect(error);
          else outcome.codes.push(`closed:${(error as { code?: number }).code ?? String(error)}`);
          resolve(outcome);
        },
        complete: () => resolve(outcome),
      },
    );
  });
}

describe("rate limit", () => {
  test("graphql-ws: operations over the limit get RATE_LIMITED", async () => {
    const client = wsClient(limited.wsUrl, { authorization: `Bearer ${TEST_KEYS.cpms}` });
    try {
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 10; i++) outcomes.push(await overWs(client, "{ __typename }"));
      expect(outcomes.slice(0, 4).map((o) => o.data)).toEqual(Array(4).fill({ __typename: "Query" }));
      const limitedOnes = outcomes.filter((o) => o.codes.includes("RATE_LIMITED"));
      expect(limitedOnes.length).toBeGreaterThan(0);
      // The socket stays open: the client may go on once the bucket refills.
      await new Promise((r) => setTimeout(r, 1100));
      expect((await overWs(client, "{ __typename }")).data).toEqual({ __typename: "Query" });
    } finally {
      await client.dispose();
    }
  });

  test("SSE: requests over the limit get RATE_LIMITED", async () => {
    const bodies: string[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await fetch(limited.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", ...bearer(TEST_KEYS.reader) },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      statuses.push(res.status);
      bodies.push(await res.text());
    }
    expect(bodies[0]).toContain('"__typename":"Query"');
    expect(bodies.some((b) => b.includes("RATE_LIMITED"))).toBe(true);
    expect(statuses).toContain(429);
  });

  test("the limit is per key, across transports", async () => {
    const key = TEST_KEYS.siteCpms;
    for (let i = 0; i < 6; i++) {
      await fetch(limited.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(key) },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
    }
    const client = wsClient(limited.wsUrl, { authorization: `Bearer ${key}` });
    try {
      expect((await overWs(client, "{ __typename }")).codes).toContain("RATE_LIMITED");
    } finally {
      await client.dispose();
    }
  });
});

describe("size limits", () => {
  const oversized = `{ __typename }\n#${"x".repeat(MAX_DOCUMENT_BYTES)}`;

  test("HTTP: a document over the limit is refused with 413 PAYLOAD_TOO_LARGE", async () => {
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
      body: JSON.stringify({ query: oversized }),
    });
    expect(res.status).toBe(413);
    expect((await res.json()).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("graphql-ws: a document over the limit is refused with PAYLOAD_TOO_LARGE", async () => {
    const client = wsClient(t.wsUrl);
    try {
      const outcome = await overWs(client, oversized);
      expect(outcome.data).toBeUndefined();
      expect(outcome.codes).toEqual(["PAYLOAD_TOO_LARGE"]);
      // The connection is still good for operations within the limits.
      expect((await overWs(client, "{ __typename }")).data).toEqual({ __typename: "Query" });
    } finally {
      await client.dispose();
    }
  });

  test("graphql-ws: a message over the HTTP body limit closes the socket (1009)", async () => {
    const client = wsClient(t.wsUrl);
    try {
      const outcome = await overWs(client, `{ __typename }\n#${"x".repeat(MAX_BODY_BYTES + 128 * 1024)}`);
      expect(outcome.data).toBeUndefined();
      expect(outcome.codes).toEqual(["closed:1009"]);
    } finally {
      await client.dispose();
    }
  });
});

describe("graphql-ws takes the key as clients send it", () => {
  test.each([
    ["authorization", { authorization: `Bearer ${TEST_KEYS.cpms}` }],
    ["Authorization", { Authorization: `Bearer ${TEST_KEYS.cpms}` }],
    ["headers.Authorization (GraphiQL)", { headers: { Authorization: `Bearer ${TEST_KEYS.cpms}` } }],
    ["headers.authorization", { headers: { authorization: `Bearer ${TEST_KEYS.cpms}` } }],
  ])("%s", async (_name, params) => {
    const client = wsClient(t.wsUrl, params);
    try {
      expect(await overWs(client, "{ __typename }")).toEqual({ data: { __typename: "Query" }, codes: [] });
    } finally {
      await client.dispose();
    }
  });

  test("a wrong key in headers is still 4401", async () => {
    const client = wsClient(t.wsUrl, { headers: { Authorization: "Bearer not-a-key-at-all" } });
    try {
      expect((await overWs(client, "{ __typename }")).codes).toEqual(["closed:4401"]);
    } finally {
      await client.dispose();
    }
  });
});
