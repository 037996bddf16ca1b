// Security issue #17, items 3, 5–10 and 13: each attack performed here against the real service; a
// test fails if the attack works again. (Items 1, 2, 4, 11, 12, 14: security.test.ts.)
import { request } from "node:http";
import type { Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { MAX_BODY_BYTES } from "../../src/access/gate.js";
import { MAX_VARIABLE_DEPTH } from "../../src/api/server.js";
import { loadConfig } from "../../src/config.js";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { samples, setClock, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import { collect, wsClient } from "../helpers/ws.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await setClock(t.database.pool, T0);
});
afterAll(async () => {
  await t?.stop();
});

interface Outcome {
  data?: unknown;
  codes: string[];
  text: string;
}

/** One operation over graphql-ws, to its end (errors and close codes as codes). */
function overWs(client: Client, query: string, variables?: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { codes: [], text: "" };
    const collectErrors = (errors: readonly { message?: string; extensions?: Record<string, unknown> }[]) => {
      for (const e of errors) outcome.codes.push(String(e.extensions?.code));
      outcome.text += JSON.stringify(errors);
    };
    client.subscribe(
      { query, variables },
      {
        next: (value) => {
          if (value.data) outcome.data = value.data;
          if (value.errors) collectErrors(value.errors);
        },
        error: (error) => {
          if (Array.isArray(error)) collectErrors(error);
          else outcome.codes.push(`closed:${(error as { code?: number }).code ?? String(error)}`);
          resolve(outcome);
        },
        complete: () => resolve(outcome),
      },
    );
  });
}

/** A raw graphql-transport-ws socket, acknowledged. */
async function rawSocket(url: string, key: string): Promise<WebSocket> {
  const socket = new WebSocket(url, "graphql-transport-ws");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("open", () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${key}` } }));
    });
    socket.once("message", (data) => {
      const message = JSON.parse(String(data));
      if (message.type === "connection_ack") resolve();
      else reject(new Error(`expected connection_ack, got ${String(data)}`));
    });
    socket.once("close", (code) => reject(new Error(`closed with ${code}`)));
  });
  return socket;
}

function closeCode(client: Client): Promise<number> {
  return new Promise((resolve) => client.on("closed", (event) => resolve((event as { code: number }).code)));
}

const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => r.errors?.map((e) => e.extensions?.code);

describe("item 3: a flood of heavy queries on one graphql-ws connection", () => {
  const SITES = 10;
  const SESSIONS = 30;
  // 15 aliases (the limit), each every session with its setpoint: a few hundred KB of JSON per answer.
  const HEAVY = `{ ${Array.from(
    { length: 15 },
    (_, i) =>
      `a${i}: sessions(activeOnly: false) { id siteId chargePointId ratedPowerKw currentPowerKw sampledTs sessionStartTs setpoint { setpointKw limitedBy priceTier updatedAt } }`,
  ).join(" ")} }`;

  beforeAll(async () => {
    for (let s = 0; s < SITES; s++) {
      await t.gql(`mutation ($i: SiteDemandInput!) { recordSiteDemand(input: $i) { id } }`, {
        i: { siteId: `flood-${s}`, demandLimitKw: 500, currentDemandKw: 0, evLoadKw: 0, measuredTs: T0 },
      });
      await samples(
        t.database.pool,
        Array.from({ length: SESSIONS }, (_, n) => ({ session: `flood-${s}-${n}`, site: `flood-${s}`, rated: 11 })),
      );
    }
  });

  const WS_MAX_IN_FLIGHT = loadConfig({}).wsMaxInFlight;

  test("3,000 heavy queries at once: the server stays up, answers every one, memory stays bounded", async () => {
    const check = await t.gql<Record<string, unknown[]>>(HEAVY);
    expect(check.errors).toBeUndefined();
    expect(check.data?.a0?.length).toBeGreaterThanOrEqual(SITES * SESSIONS);

    const FLOOD = 3_000;
    const socket = await rawSocket(t.wsUrl, TEST_KEYS.cpms);
    const answered = new Map<string, "data" | "limited" | "other">();
    let errorCodes: string[] = [];
    socket.on("message", (raw) => {
      const message = JSON.parse(String(raw)) as { id?: string; type: string; payload?: unknown };
      if (!message.id) return;
      if (message.type === "next") answered.set(message.id, "data");
      if (message.type === "error") {
        const found = (message.payload as { extensions?: { code?: string } }[]).map((e) => String(e.extensions?.code));
        errorCodes = [...new Set([...errorCodes, ...found])];
        answered.set(message.id, found.includes("TOO_MANY_OPERATIONS") ? "limited" : "other");
      }
    });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    try {
      for (let i = 0; i < FLOOD; i++)
        socket.send(JSON.stringify({ id: `f${i}`, type: "subscribe", payload: { query: HEAVY } }));
      await until(() => answered.size >= FLOOD, {
        timeoutMs: 120_000,
        intervalMs: 50,
        what: "every operation answered",
      });
    } finally {
      clearInterval(sampler);
    }
    const counts = { data: 0, limited: 0, other: 0 };
    for (const kind of answered.values()) counts[kind] += 1;
    const growthMb = (rssPeak - rssBefore) / 1024 / 1024;
    console.log(
      `flood of ${FLOOD}: ${counts.data} answered with data, ${counts.limited} TOO_MANY_OPERATIONS, ${counts.other} other; ` +
        `RSS ${Math.round(rssBefore / 1024 / 1024)} MB before, peak ${Math.round(rssPeak / 1024 / 1024)} MB (+${Math.round(growthMb)} MB)`,
    );
    expect(counts.other, `other errors: ${errorCodes.join(", ")}`).toBe(0);
    // At least the bound's worth ran (more as earlier ones finished while the flood was arriving).
    expect(counts.data).toBeGreaterThanOrEqual(WS_MAX_IN_FLIGHT);
    expect(counts.limited).toBeGreaterThan(0);
    expect(growthMb).toBeLessThan(1_024);

    // Still up: the same socket and a plain HTTP request are answered.
    const after = await new Promise<string>((resolve) => {
      socket.on("message", (raw) => {
        const message = JSON.parse(String(raw)) as { id?: string; type: string };
        if (message.id === "after" && message.type === "next") resolve(String(raw));
      });
      socket.send(JSON.stringify({ id: "after", type: "subscribe", payload: { query: "{ __typename }" } }));
    });
    expect(after).toContain("Query");
    expect((await fetch(t.url.replace("/graphql", "/healthz"))).status).toBe(200);
    socket.close();
  }, 180_000);
});

describe("item 5: revoking a key closes its open graphql-ws connections", () => {
  const SITE = "revoke-site";
  const SUB = `subscription { setpointChanged(siteId: "${SITE}") { sessionId setpointKw } }`;
  let n = 0;

  async function createKey(): Promise<{ key: string; id: string }> {
    const r = await t.gql<{ createApiKey: { key: string; apiKey: { id: string } } }>(
      `mutation { createApiKey(input: {role: cpms, description: "revocation test"}) { key apiKey { id } } }`,
    );
    expect(r.errors).toBeUndefined();
    return { key: r.data?.createApiKey.key as string, id: r.data?.createApiKey.apiKey.id as string };
  }

  async function sample(): Promise<void> {
    n += 1;
    const r = await t.gql(`mutation ($i: SessionSampleInput!) { recordSessionSample(input: $i) { id } }`, {
      i: {
        sessionId: `rv-${n}`,
        chargePointId: `cp-rv-${n}`,
        connectorId: 1,
        siteId: SITE,
        ratedPowerKw: 11,
        currentPowerKw: 0,
        sessionStartTs: T0,
        sampledTs: T0,
      },
    });
    expect(r.errors).toBeUndefined();
  }

  beforeAll(async () => {
    await t.gql(`mutation ($i: SiteDemandInput!) { recordSiteDemand(input: $i) { id } }`, {
      i: { siteId: SITE, demandLimitKw: 100, currentDemandKw: 0, evLoadKw: 0, measuredTs: T0 },
    });
  });

  test.each([
    ["revokeApiKey on this instance", "mutation"],
    ["a revocation made elsewhere (another instance, SQL)", "sql"],
  ])("%s: closed with 4403 within 1.5 s, no more events", async (_name, how) => {
    const { key, id } = await createKey();
    const client = wsClient(t.wsUrl, { authorization: `Bearer ${key}` });
    const closed = closeCode(client);
    try {
      const events = await collect<unknown>(client, SUB);
      await sample();
      await events.waitFor(1);
      const started = Date.now();
      if (how === "mutation") {
        const r = await t.gql(`mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id });
        expect(r.errors).toBeUndefined();
      } else {
        await t.database.pool.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1", [id]);
      }
      const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r("timeout"), 1_500))]);
      expect(code).toBe(4403);
      expect(Date.now() - started).toBeLessThan(1_500);
      const seen = events.events.length;
      await sample();
      await new Promise((r) => setTimeout(r, 300));
      expect(events.events.length).toBe(seen);
      // And the key opens nothing new.
      const again = wsClient(t.wsUrl, { authorization: `Bearer ${key}` });
      const againClosed = closeCode(again);
      void overWs(again, "{ __typename }");
      expect(await againClosed).toBe(4401);
      await again.dispose();
    } finally {
      await client.dispose();
    }
  });
});

/** An SSE subscription: `opened` resolves with the status once the stream is open; `read(text)` reads until `text` comes. */
function sse(url: string, key: string, query: string) {
  const controller = new AbortController();
  const response = fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...bearer(key) },
    body: JSON.stringify({ query }),
    signal: controller.signal,
  });
  return {
    opened: response.then((res) => res.status),
    async read(wanted: string): Promise<string> {
      const reader = ((await response).body as ReadableStream<Uint8Array>).getReader();
      let text = "";
      while (!text.includes(wanted)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      return text;
    },
    abort: () => controller.abort(),
  };
}

describe("item 5 over SSE: revoking a key ends its SSE subscriptions", () => {
  test.each([
    ["revokeApiKey on this instance", "mutation"],
    ["a revocation made elsewhere", "sql"],
  ])("%s: the stream ends within 1.5 s", async (_name, how) => {
    const created = await t.gql<{ createApiKey: { key: string; apiKey: { id: string } } }>(
      `mutation { createApiKey(input: {role: cpms, description: "SSE revocation test"}) { key apiKey { id } } }`,
    );
    const key = created.data?.createApiKey.key as string;
    const id = created.data?.createApiKey.apiKey.id as string;
    const stream = sse(t.url, key, `subscription { setpointChanged(siteId: "revoke-site") { sessionId } }`);
    try {
      expect(await stream.opened).toBe(200);
      const ended = stream.read("event: complete");
      const started = Date.now();
      if (how === "mutation") {
        const r = await t.gql(`mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id });
        expect(r.errors).toBeUndefined();
      } else {
        await t.database.pool.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1", [id]);
      }
      const outcome = await Promise.race([
        ended.then(() => "ended"),
        new Promise((r) => setTimeout(() => r("still open"), 1_500)),
      ]);
      expect(outcome).toBe("ended");
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      stream.abort();
      await stream.opened.catch(() => undefined);
    }
  });
});

describe("item 6: connections and subscriptions per key are capped", () => {
  let capped: TestApp;
  beforeAll(async () => {
    capped = await startTestApp({ maxConnectionsPerKey: 2, maxSubscriptionsPerKey: 3 }, t.database);
  });
  afterAll(async () => {
    await capped?.stop();
  });

  test("connections: the key's third graphql-ws connection is closed with 4429; one closing frees a place", async () => {
    const a = await rawSocket(capped.wsUrl, TEST_KEYS.cpms);
    const b = await rawSocket(capped.wsUrl, TEST_KEYS.cpms);
    const open = [a, b];
    try {
      await expect(rawSocket(capped.wsUrl, TEST_KEYS.cpms)).rejects.toThrow("closed with 4429");
      // Another key is not affected.
      open.push(await rawSocket(capped.wsUrl, TEST_KEYS.reader));
      a.close();
      // The close reaches the server shortly: a new connection then gets the freed place.
      open.push(await until(() => rawSocket(capped.wsUrl, TEST_KEYS.cpms).catch(() => null), { timeoutMs: 3_000 }));
    } finally {
      for (const socket of open) socket.close();
    }
  });

  test("subscriptions: graphql-ws and SSE together, the fourth is TOO_MANY_SUBSCRIPTIONS on either", async () => {
    const SUB = `subscription { setpointChanged(siteId: "site-a") { sessionId } }`;
    const client = wsClient(capped.wsUrl, { authorization: `Bearer ${TEST_KEYS.siteCpms}` });
    const streams: ReturnType<typeof sse>[] = [];
    try {
      const one = await collect(client, SUB);
      const two = await collect(client, SUB);
      const three = sse(capped.url, TEST_KEYS.siteCpms, SUB);
      streams.push(three);
      expect(await three.opened).toBe(200);

      const fourWs = await overWs(client, SUB);
      expect(fourWs.codes).toEqual(["TOO_MANY_SUBSCRIPTIONS"]);
      const fourSse = sse(capped.url, TEST_KEYS.siteCpms, SUB);
      streams.push(fourSse);
      // A refused subscription is one error event, then the stream ends.
      expect(await fourSse.read("TOO_MANY_SUBSCRIPTIONS")).toContain("TOO_MANY_SUBSCRIPTIONS");
      // Queries are not subscriptions: still answered.
      expect((await overWs(client, "{ __typename }")).data).toEqual({ __typename: "Query" });

      // Ending one frees its place (once the complete message reached the server).
      one.dispose();
      const five = await until(
        async () => {
          const attempt = await collect(client, `subscription { alertChanged(siteId: "site-a") { id } }`);
          if (JSON.stringify(attempt.errors).includes("TOO_MANY_SUBSCRIPTIONS")) return null;
          return attempt;
        },
        { timeoutMs: 3_000, what: "the place of an ended subscription freed" },
      );
      expect(five.errors).toEqual([]);
      five.dispose();
      two.dispose();
    } finally {
      for (const stream of streams) stream.abort();
      await Promise.allSettled(streams.map((stream) => stream.opened));
      await client.dispose();
    }
  });
});

describe("item 7: random paths do not grow /metrics", () => {
  const KNOWN = new Set(["/graphql", "/healthz", "/readyz", "/metrics", "/graphiql/", "other"]);
  const series = async () => {
    const text = await (await fetch(t.url.replace("/graphql", "/metrics"))).text();
    const lines = text.split("\n").filter((l) => l.startsWith("scc_http_request"));
    const routes = new Set(lines.map((l) => /route="([^"]*)"/.exec(l)?.[1]).filter((r) => r !== undefined));
    return { count: lines.length, routes };
  };

  test("500 unauthenticated random paths: every route label is a known route or other", async () => {
    // The first of each: a random path and a scrape (counted once it is answered).
    await fetch(t.url.replace("/graphql", "/a-first-random-path"));
    await series();
    const before = await series();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          fetch(t.url.replace("/graphql", `/probe-${batch}-${i}-${Math.random().toString(36).slice(2)}?x=${i}`)).then(
            (r) => r.arrayBuffer(),
          ),
        ),
      );
    }
    const after = await series();
    expect([...after.routes].filter((r) => !KNOWN.has(r as string))).toEqual([]);
    expect(after.count).toBe(before.count);
  });
});

describe("item 8: the body limit counts bytes read, not the announced length", () => {
  function chunkedPost(megabytes: number): Promise<{ status: number; body: string }> {
    const url = new URL(t.url);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: "/graphql",
          method: "POST",
          headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
        },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      // The server may answer and close before the whole body is sent.
      req.on("error", (error) =>
        error.message.includes("EPIPE") || error.message.includes("ECONNRESET") ? undefined : reject(error),
      );
      req.write('{"query":"{ __typename }","variables":{"pad":"');
      const chunk = "a".repeat(1024 * 1024);
      for (let i = 0; i < megabytes; i++) req.write(chunk);
      req.end('"}}');
    });
  }

  test("a chunked 9 MB body (no Content-Length): 413 PAYLOAD_TOO_LARGE", async () => {
    expect(9 * 1024 * 1024).toBeGreaterThan(MAX_BODY_BYTES);
    const r = await chunkedPost(9);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("a chunked body under the limit is answered", async () => {
    const r = await chunkedPost(1);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).data).toEqual({ __typename: "Query" });
  });
});

describe("item 9: deeply nested variables are bad input, never a 500", () => {
  const deep = (levels: number) => `${'{"a":'.repeat(levels)}"x"${"}".repeat(levels)}`;
  const MUTATION = `mutation ($i: SiteDemandInput!) { recordSiteDemand(input: $i) { id } }`;

  test.each([
    ["a scalar variable", "query ($v: ID!) { site(id: $v) { id } }", "v"],
    ["an input", MUTATION, "i"],
  ])("HTTP, %s nested 5,000 deep: BAD_USER_INPUT", async (_name, query, variable) => {
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
      body: `{"query": ${JSON.stringify(query)}, "variables": {"${variable}": ${deep(5_000)}}}`,
    });
    expect(res.status).not.toBe(500);
    const body = (await res.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
    expect(codes(body)).toEqual(["BAD_USER_INPUT"]);
  });

  test(`HTTP: nesting up to the limit (${MAX_VARIABLE_DEPTH}) is checked by the schema as usual`, async () => {
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
      body: `{"query": "query ($v: ID!) { site(id: $v) { id } }", "variables": {"v": ${deep(MAX_VARIABLE_DEPTH - 2)}}}`,
    });
    const body = (await res.json()) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };
    expect(codes(body)).toEqual(["BAD_USER_INPUT"]);
    expect(body.errors?.[0]?.message).toContain("ID cannot represent");
  });

  test("graphql-ws: a query and a subscription with variables nested 5,000 deep: BAD_USER_INPUT", async () => {
    const socket = await rawSocket(t.wsUrl, TEST_KEYS.admin);
    try {
      const answers = new Map<string, string>();
      socket.on("message", (raw) => {
        const message = JSON.parse(String(raw)) as { id?: string };
        if (message.id) answers.set(message.id, (answers.get(message.id) ?? "") + String(raw));
      });
      const send = (id: string, query: string) =>
        socket.send(
          `{"id":"${id}","type":"subscribe","payload":{"query":${JSON.stringify(query)},"variables":{"v":${deep(5_000)}}}}`,
        );
      send("q", "query ($v: ID!) { site(id: $v) { id } }");
      send("s", "subscription ($v: ID) { setpointChanged(siteId: $v) { sessionId } }");
      await until(() => answers.get("q")?.includes('"complete"') && answers.get("s")?.includes("error"), {
        timeoutMs: 5_000,
      });
      for (const id of ["q", "s"]) {
        expect(answers.get(id)).toContain("BAD_USER_INPUT");
        expect(answers.get(id)).not.toContain("INTERNAL_SERVER_ERROR");
      }
      expect(socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      socket.close();
    }
  });
});

describe("item 10: in production, no suggestions and no echo of the body", () => {
  let prod: TestApp;
  beforeAll(async () => {
    prod = await startTestApp({ nodeEnv: "production", introspection: false }, t.database);
  });
  afterAll(async () => {
    await prod?.stop();
  });

  test.each([
    ["an enum value", `mutation { configureSite(input: {siteId: "site-a", policy: WATER_FIL}) { id } }`, undefined],
    [
      "an enum value in a variable",
      `mutation ($p: AllocationPolicy) { configureSite(input: {siteId: "site-a", policy: $p}) { id } }`,
      { p: "WATER_FIL" },
    ],
    ["an input field", `mutation { configureSite(input: {siteId: "site-a", minRateK: 1}) { id } }`, undefined],
    [
      "an input field in a variable",
      `mutation ($i: SiteConfigInput!) { configureSite(input: $i) { id } }`,
      { i: { siteId: "site-a", minRateK: 1 } },
    ],
    ["a field", `{ sites { idd } }`, undefined],
    ["an argument", `{ sessions(activeOnl: true) { id } }`, undefined],
    ["a type", `query ($p: AllocationPolicyy) { __typename }`, undefined],
  ])("a misspelt %s: an error without 'Did you mean'", async (_name, query, variables) => {
    const r = await prod.gql(query, variables);
    expect(r.errors?.length).toBeGreaterThan(0);
    expect(JSON.stringify(r)).not.toMatch(/did you mean/i);
  });

  test("the same misspellings in development still suggest (the check above is not vacuous)", async () => {
    const r = await t.gql(`mutation { configureSite(input: {siteId: "site-a", policy: WATER_FIL}) { id } }`);
    expect(JSON.stringify(r)).toMatch(/Did you mean/);
  });

  test("an invalid JSON body (NaN): 400 BAD_REQUEST, nothing of the body in the answer", async () => {
    const res = await fetch(prod.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
      body: '{"query": "{ __typename }", "variables": {"a": NaN, "secret": "SECRETBODYTEXT"}}',
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text).errors[0].extensions.code).toBe("BAD_REQUEST");
    expect(text).not.toContain("SECRETBODYTEXT");
    expect(text).not.toContain("NaN");
    expect(text).not.toContain("originalError");
  });

  test("graphql-ws: a misspelt enum value, no 'Did you mean'", async () => {
    const client = wsClient(prod.wsUrl, { authorization: `Bearer ${TEST_KEYS.admin}` });
    try {
      const r = await overWs(client, `mutation { configureSite(input: {siteId: "site-a", policy: WATER_FIL}) { id } }`);
      expect(r.codes.length).toBeGreaterThan(0);
      expect(r.text).not.toMatch(/did you mean/i);
    } finally {
      await client.dispose();
    }
  });
});

describe("item 13: failed authentications are limited per address, unknown keys cached", () => {
  test("2,000 unknown keys from one address: at most the per-minute budget reaches the database, then 429", async () => {
    let lookups = 0;
    const app = await startTestApp({ authFailuresPerMinute: 60 }, t.database, { onKeyLookup: () => lookups++ });
    try {
      const started = Date.now();
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let batch = 0; batch < 40; batch++) {
        const results = await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const res = await fetch(app.url, {
              method: "POST",
              headers: { "content-type": "application/json", ...bearer(`scc_unknown_${batch}_${i}_key`) },
              body: JSON.stringify({ query: "{ __typename }" }),
            });
            const body = (await res.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
            if (res.status === 429) {
              retryAfter = res.headers.get("retry-after");
              expect(codes(body)).toEqual(["RATE_LIMITED"]);
            }
            return res.status;
          }),
        );
        statuses.push(...results);
      }
      const unauthorized = statuses.filter((s) => s === 401).length;
      const limited = statuses.filter((s) => s === 429).length;
      console.log(`2,000 unknown keys: ${unauthorized} × 401, ${limited} × 429, ${lookups} database lookups`);
      expect(unauthorized + limited).toBe(2_000);
      // 60 per minute plus what refills while the test runs (1 per second).
      expect(lookups).toBeLessThanOrEqual(60 + Math.ceil((Date.now() - started) / 1000));
      expect(limited).toBeGreaterThanOrEqual(1_900);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);

      // graphql-ws from the same address: closed with 4429, no lookup.
      const before = lookups;
      const client = wsClient(app.wsUrl, { authorization: "Bearer scc_unknown_over_ws_key" });
      const closed = closeCode(client);
      void overWs(client, "{ __typename }");
      expect(await closed).toBe(4429);
      expect(lookups).toBe(before);
      await client.dispose();
    } finally {
      await app.stop();
    }
  });

  test("the same unknown key again and again: one database lookup (negative cache)", async () => {
    let lookups = 0;
    const app = await startTestApp({ authFailuresPerMinute: 0 }, t.database, { onKeyLookup: () => lookups++ });
    try {
      for (let i = 0; i < 100; i++) {
        const res = await fetch(app.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...bearer("scc_the_same_unknown_key") },
          body: JSON.stringify({ query: "{ __typename }" }),
        });
        expect(res.status).toBe(401);
        await res.arrayBuffer();
      }
      expect(lookups).toBe(1);
    } finally {
      await app.stop();
    }
  });
});
