// SPEC §7: no key, the wrong key, the wrong role or the wrong site gets nothing and changes
// nothing, on HTTP, SSE and graphql-ws alike.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { setClock, T0 } from "../helpers/events.js";
import { collect, wsClient } from "../helpers/ws.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await setClock(t.database.pool, T0);
  for (const site of ["site-a", "site-c"]) {
    await t.gql(`mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id } }`, {
      input: { siteId: site, demandLimitKw: 50, currentDemandKw: 0, evLoadKw: 0, measuredTs: T0 },
    });
  }
});
afterAll(async () => {
  await t?.stop();
});

const sample = (site: string, id: string) => ({
  sessionId: id,
  chargePointId: `cp-${id}`,
  connectorId: 1,
  siteId: site,
  ratedPowerKw: 11,
  sessionStartTs: T0,
  sampledTs: T0,
});

async function state(): Promise<string> {
  const { rows } = await t.database.pool.query(
    `SELECT (SELECT count(*) FROM session_samples_raw) AS samples, (SELECT count(*) FROM site_demand_raw) AS demand,
            (SELECT count(*) FROM price_signals_raw) AS prices, (SELECT count(*) FROM dr_signals_raw) AS dr,
            (SELECT count(*) FROM session_ends_raw) AS ends, (SELECT count(*) FROM api_keys) AS keys,
            (SELECT string_agg(site_id || policy || min_rate_kw, ',' ORDER BY site_id) FROM sites) AS sites`,
  );
  return JSON.stringify(rows[0]);
}

type Op = {
  name: string;
  kind: "query" | "ingest" | "configure" | "admin";
  query: string;
  variables?: Record<string, unknown>;
};

function operations(site: string): Op[] {
  return [
    { name: "site", kind: "query", query: `{ site(id: "${site}") { id } }` },
    { name: "sessions", kind: "query", query: `{ sessions(siteId: "${site}") { id } }` },
    { name: "setpoints", kind: "query", query: `{ setpoints(siteId: "${site}") { sessionId } }` },
    { name: "alerts", kind: "query", query: `{ alerts(siteId: "${site}") { id } }` },
    {
      name: "recordSessionSample",
      kind: "ingest",
      query: `mutation ($i: SessionSampleInput!) { recordSessionSample(input: $i) { id } }`,
      variables: { i: sample(site, `${site}-x`) },
    },
    {
      name: "recordSessionSamples",
      kind: "ingest",
      query: `mutation ($i: [SessionSampleInput!]!) { recordSessionSamples(inputs: $i) { accepted } }`,
      variables: { i: [sample(site, `${site}-y`)] },
    },
    {
      name: "recordSiteDemand",
      kind: "ingest",
      query: `mutation ($i: SiteDemandInput!) { recordSiteDemand(input: $i) { id } }`,
      variables: { i: { siteId: site, demandLimitKw: 40, currentDemandKw: 1, evLoadKw: 0, measuredTs: T0 } },
    },
    {
      name: "recordSiteDemands",
      kind: "ingest",
      query: `mutation ($i: [SiteDemandInput!]!) { recordSiteDemands(inputs: $i) { accepted } }`,
      variables: {
        i: [
          { siteId: site, demandLimitKw: 40, currentDemandKw: 2, evLoadKw: 0, measuredTs: T0 },
          { siteId: site, demandLimitKw: 40, currentDemandKw: 3, evLoadKw: 0, measuredTs: T0 },
        ],
      },
    },
    {
      name: "publishPriceSignal",
      kind: "ingest",
      query: `mutation ($i: PriceSignalInput!) { publishPriceSignal(input: $i) { tariffId } }`,
      variables: {
        i: {
          tariffId: "t",
          siteId: site,
          priceUsdKwh: 0.2,
          priceTier: "MID_PEAK",
          validFrom: T0,
          validTo: "2026-06-01T13:00:00Z",
        },
      },
    },
    {
      name: "dispatchDemandResponse",
      kind: "ingest",
      query: `mutation ($i: DemandResponseInput!) { dispatchDemandResponse(input: $i) { drEventId } }`,
      variables: {
        i: {
          drEventId: "d",
          siteId: site,
          curtailmentPct: 10,
          eventStartTs: T0,
          eventEndTs: "2026-06-01T13:00:00Z",
          signalTs: T0,
        },
      },
    },
    {
      name: "configureSite",
      kind: "configure",
      query: `mutation ($i: SiteConfigInput!) { configureSite(input: $i) { id } }`,
      variables: { i: { siteId: site, minRateKw: 4.5 } },
    },
    { name: "apiKeys", kind: "admin", query: `{ apiKeys { id } }` },
    {
      name: "createApiKey",
      kind: "admin",
      query: `mutation { createApiKey(input: { role: reader }) { key } }`,
    },
  ];
}

const ALLOWED: Record<string, Op["kind"][]> = {
  admin: ["query", "ingest", "configure", "admin"],
  ingest: ["ingest"],
  cpms: ["query"],
  reader: ["query"],
};

describe("HTTP: role x operation x own/other site", () => {
  const keys: [string, string, string, string | null][] = [
    // key, role, site tried, allowed site (null: all)
    ["admin", TEST_KEYS.admin, "site-c", null],
    ["ingest", TEST_KEYS.ingest, "site-c", null],
    ["cpms", TEST_KEYS.cpms, "site-c", null],
    ["reader", TEST_KEYS.reader, "site-c", null],
    ["reader", TEST_KEYS.siteReader, "site-a", "site-a"],
    ["reader", TEST_KEYS.siteReader, "site-c", "site-a"],
    ["ingest", TEST_KEYS.siteIngest, "site-a", "site-a"],
    ["ingest", TEST_KEYS.siteIngest, "site-c", "site-a"],
  ];
  for (const [role, key, site, scope] of keys) {
    for (const op of operations(site)) {
      const roleAllows = ALLOWED[role]?.includes(op.kind) ?? false;
      const siteAllows = scope === null || scope === site || op.kind === "admin";
      const allowed = roleAllows && siteAllows;
      test(`${role}${scope ? `[${scope}]` : ""} ${op.name} on ${site}: ${allowed ? "allowed" : "FORBIDDEN"}`, async () => {
        const before = await state();
        const r = await t.gql(op.query, op.variables, bearer(key));
        if (allowed) {
          expect(r.errors).toBeUndefined();
        } else {
          expect(r.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
          expect(await state()).toBe(before);
        }
      });
    }
  }

  test("a site-scoped key sees only its sites in lists", async () => {
    const r = await t.gql(
      `{ sites { id } setpoints { siteId } alerts { siteId } }`,
      undefined,
      bearer(TEST_KEYS.siteReader),
    );
    expect(r.errors).toBeUndefined();
    const sites = ((r.data?.sites ?? []) as { id: string }[]).map((s) => s.id);
    expect(sites.every((s) => s === "site-a" || s === "site-b")).toBe(true);
    expect(sites).toContain("site-a");
  });

  test("a batch with one item for another site is refused whole", async () => {
    const before = await state();
    const r = await t.gql(
      `mutation ($i: [SessionSampleInput!]!) { recordSessionSamples(inputs: $i) { accepted } }`,
      { i: [sample("site-a", "mix-1"), sample("site-c", "mix-2")] },
      bearer(TEST_KEYS.siteIngest),
    );
    expect(r.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(await state()).toBe(before);
  });

  test("a demand batch with one item for another site is refused whole", async () => {
    const before = await state();
    const demand = (siteId: string) => ({ siteId, demandLimitKw: 40, currentDemandKw: 4, evLoadKw: 0, measuredTs: T0 });
    const r = await t.gql(
      `mutation ($i: [SiteDemandInput!]!) { recordSiteDemands(inputs: $i) { accepted } }`,
      { i: [demand("site-a"), demand("site-c")] },
      bearer(TEST_KEYS.siteIngest),
    );
    expect(r.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(await state()).toBe(before);
  });

  test.each([
    ["no key", {}],
    ["an unknown key", bearer("not-a-real-key-123")],
    ["a malformed header", { authorization: "Basic dXNlcjpwYXNz" }],
  ])("%s: 401 and nothing changed", async (_name, headers) => {
    const before = await state();
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query: `mutation { configureSite(input: { siteId: "site-a", minRateKw: 9 }) { id } }` }),
    });
    expect(res.status).toBe(401);
    expect((await res.json()).errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(await state()).toBe(before);
  });

  test("keys created in the database work until revoked", async () => {
    const created = await t.gql<{ createApiKey: { key: string; apiKey: { id: string; keyPrefix: string } } }>(
      `mutation { createApiKey(input: { role: reader, sites: ["site-a"], description: "ops dashboard" }) { key apiKey { id keyPrefix role sites } } }`,
    );
    const { key, apiKey } = created.data?.createApiKey ?? { key: "", apiKey: { id: "", keyPrefix: "" } };
    expect(key.startsWith(apiKey.keyPrefix.replace("…", ""))).toBe(true);
    const { rows } = await t.database.pool.query("SELECT key_hash FROM api_keys WHERE id = $1", [apiKey.id]);
    expect(rows[0].key_hash).not.toContain(key);
    expect((await t.gql(`{ site(id: "site-a") { id } }`, undefined, bearer(key))).data).toEqual({
      site: { id: "site-a" },
    });
    expect((await t.gql(`{ site(id: "site-c") { id } }`, undefined, bearer(key))).errors?.[0]?.extensions?.code).toBe(
      "FORBIDDEN",
    );
    await t.gql(`mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: apiKey.id });
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(key) },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(res.status).toBe(401);
  });
});

describe("graphql-ws and SSE", () => {
  test("an unknown key is closed with 4401, an ingest key with 4403", async () => {
    for (const [key, code] of [
      ["nope-nope-nope", 4401],
      [TEST_KEYS.ingest, 4403],
    ] as const) {
      const client = wsClient(t.wsUrl, { authorization: `Bearer ${key}` });
      const closed = new Promise<number>((resolve) =>
        client.on("closed", (event) => resolve((event as { code: number }).code)),
      );
      client.subscribe(
        { query: "subscription { setpointChanged { sessionId } }" },
        { next() {}, error() {}, complete() {} },
      );
      expect(await closed).toBe(code);
      await client.dispose();
    }
  });

  test("a site-scoped key cannot subscribe to another site, and its open subscription sees only its sites", async () => {
    const client = wsClient(t.wsUrl, { authorization: `Bearer ${TEST_KEYS.siteCpms}` });
    const other = await collect<unknown>(client, `subscription { setpointChanged(siteId: "site-c") { sessionId } }`);
    expect(JSON.stringify(other.errors)).toContain("not allowed for site site-c");
    const reader = wsClient(t.wsUrl, { authorization: `Bearer ${TEST_KEYS.siteReader}` });
    const denied = await collect<unknown>(reader, `subscription { setpointChanged(siteId: "site-a") { sessionId } }`);
    expect(JSON.stringify(denied.errors)).toContain("role reader may not subscribe");
    await reader.dispose();
    const mine = await collect<{ setpointChanged: { siteId: string } }>(
      client,
      `subscription { setpointChanged { siteId } }`,
    );
    await t.gql(`mutation ($i: [SessionSampleInput!]!) { recordSessionSamples(inputs: $i) { accepted } }`, {
      i: [sample("site-c", "ws-c1"), sample("site-a", "ws-a1")],
    });
    await mine.waitFor(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(mine.events.map((e) => e.setpointChanged.siteId)).toEqual(["site-a"]);
    mine.dispose();
    await client.dispose();
  });

  test("SSE without a key is refused with 401", async () => {
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription { setpointChanged { sessionId } }" }),
    });
    expect(res.status).toBe(401);
  });
});

describe("limits", () => {
  test("query depth and aliases are limited", async () => {
    const deep = await t.gql(`{ sites { setpoints { sessionId } sessions { setpoint { sessionId } } } }`);
    expect(deep.errors).toBeUndefined();
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: sites { id }`).join(" ");
    const many = await t.gql(`{ ${aliases} }`);
    expect(many.errors?.[0]?.message).toMatch(/alias/i);
  });

  test("a request body over the limit is refused", async () => {
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
      body: JSON.stringify({ query: "{ __typename }", padding: "x".repeat(9 * 1024 * 1024) }),
    });
    expect(res.status).toBe(413);
  });

  test("the per-key rate limit answers 429 with a clear error", async () => {
    const limited = await startTestApp({ rateLimitPerSecond: 2 }, t.database);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await fetch(limited.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...bearer(TEST_KEYS.reader) },
          body: JSON.stringify({ query: "{ __typename }" }),
        });
        statuses.push(res.status);
        if (res.status === 429) expect((await res.json()).errors[0].extensions.code).toBe("RATE_LIMITED");
      }
      expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
      expect(statuses).toContain(429);
    } finally {
      await limited.stop();
    }
  });

  test("in production, introspection is off and errors are masked", async () => {
    const prod = await startTestApp({ nodeEnv: "production", introspection: false }, t.database);
    try {
      const r = await prod.gql(`{ __schema { types { name } } }`);
      expect(r.errors?.[0]?.message).toMatch(/introspection/i);
      const typo = await prod.gql(`{ sitez { id } }`);
      expect(typo.errors?.[0]?.message).not.toMatch(/Did you mean/);
    } finally {
      await prod.stop();
    }
  });
});
