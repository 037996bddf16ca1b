// Security issue: each attack a probe found, performed here; a test fails if the attack works again.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseApiKeys } from "../../src/config.js";
import { bearer, startTestApp, TEST_API_KEYS, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { setClock, T0 } from "../helpers/events.js";

const SITE_ADMIN = "test-site-admin-0001"; // admin limited to site-a
const SITE_B_INGEST = "test-site-b-ingest-1";
const TWO_SITE_INGEST = "test-two-site-ingest"; // ingest at site-a and site-b

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    apiKeys: [
      ...(TEST_API_KEYS ?? []),
      ...(parseApiKeys(
        `${SITE_ADMIN}:admin:site-a;${SITE_B_INGEST}:ingest:site-b;${TWO_SITE_INGEST}:ingest:site-a,site-b`,
      ) ?? []),
    ],
  });
  await setClock(t.database.pool, T0);
  for (const site of ["site-a", "site-b"]) {
    await t.gql(`mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id } }`, {
      input: { siteId: site, demandLimitKw: 50, currentDemandKw: 0, evLoadKw: 0, measuredTs: T0 },
    });
  }
});
afterAll(async () => {
  await t?.stop();
});

const sample = (site: string, id: string, sampledTs = T0) => ({
  sessionId: id,
  chargePointId: `cp-${id}`,
  connectorId: 1,
  siteId: site,
  ratedPowerKw: 11,
  currentPowerKw: 7,
  sessionStartTs: T0,
  sampledTs,
});

const RECORD = `mutation ($i: SessionSampleInput!) { recordSessionSample(input: $i) { id siteId currentPowerKw } }`;
const RECORD_BATCH = `mutation ($i: [SessionSampleInput!]!) { recordSessionSamples(inputs: $i) { accepted } }`;
const later = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

async function storedSite(sessionId: string): Promise<string | undefined> {
  const { rows } = await t.database.pool.query("SELECT site_id FROM sessions WHERE session_id = $1", [sessionId]);
  return rows[0]?.site_id;
}

async function rawSamples(sessionId: string): Promise<number> {
  const { rows } = await t.database.pool.query(
    "SELECT count(*)::int AS n FROM session_samples_raw WHERE session_id = $1",
    [sessionId],
  );
  return rows[0].n;
}

const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => r.errors?.map((e) => e.extensions?.code);

describe("a site-scoped ingest key cannot take over another site's session", () => {
  beforeAll(async () => {
    const r = await t.gql(RECORD, { i: sample("site-b", "victim-1") }, bearer(SITE_B_INGEST));
    expect(r.errors).toBeUndefined();
  });

  test("single sample naming the other site's session id: FORBIDDEN, nothing stored", async () => {
    const r = await t.gql(RECORD, { i: sample("site-a", "victim-1", later(10)) }, bearer(TEST_KEYS.siteIngest));
    expect(codes(r)).toEqual(["FORBIDDEN"]);
    expect(await storedSite("victim-1")).toBe("site-b");
    expect(await rawSamples("victim-1")).toBe(1);
  });

  test("a batch with one such sample is refused whole", async () => {
    const r = await t.gql(
      RECORD_BATCH,
      { i: [sample("site-a", "fresh-a-1"), sample("site-a", "victim-1", later(20))] },
      bearer(TEST_KEYS.siteIngest),
    );
    expect(codes(r)).toEqual(["FORBIDDEN"]);
    expect(await storedSite("victim-1")).toBe("site-b");
    expect(await rawSamples("fresh-a-1")).toBe(0);
  });

  test("an older sample cannot read the other site's session through the return value", async () => {
    const r = await t.gql(
      RECORD,
      { i: { ...sample("site-a", "victim-1", T0), sessionStartTs: later(-60), sampledTs: later(-30) } },
      bearer(TEST_KEYS.siteIngest),
    );
    expect(r.data?.recordSessionSample ?? null).toBeNull();
    expect(JSON.stringify(r)).not.toContain("site-b");
  });

  test("a key allowed at both sites may move a session (an explicit, logged case)", async () => {
    await t.gql(RECORD, { i: sample("site-b", "movable-1") }, bearer(SITE_B_INGEST));
    const r = await t.gql<{ recordSessionSample: { siteId: string } }>(
      RECORD,
      { i: sample("site-a", "movable-1", later(5)) },
      bearer(TWO_SITE_INGEST),
    );
    expect(r.errors).toBeUndefined();
    expect(r.data?.recordSessionSample.siteId).toBe("site-a");
    expect(await storedSite("movable-1")).toBe("site-a");
  });
});

describe("a site-scoped admin stays within its sites", () => {
  const CREATE = `mutation ($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id sites } } }`;

  test("it cannot mint an unscoped key or a key for another site", async () => {
    for (const input of [{ role: "admin" }, { role: "reader", sites: ["site-a", "site-b"] }]) {
      const r = await t.gql(CREATE, { i: input }, bearer(SITE_ADMIN));
      expect(codes(r)).toEqual(["FORBIDDEN"]);
    }
    const { rows } = await t.database.pool.query("SELECT count(*)::int AS n FROM api_keys");
    expect(rows[0].n).toBe(0);
  });

  test("it lists and revokes only keys within its sites", async () => {
    const own = await t.gql<{ createApiKey: { apiKey: { id: string } } }>(
      CREATE,
      { i: { role: "reader", sites: ["site-a"] } },
      bearer(SITE_ADMIN),
    );
    expect(own.errors).toBeUndefined();
    const wide = await t.gql<{ createApiKey: { apiKey: { id: string } } }>(CREATE, { i: { role: "admin" } });
    const other = await t.gql<{ createApiKey: { apiKey: { id: string } } }>(CREATE, {
      i: { role: "reader", sites: ["site-b"] },
    });
    const listed = await t.gql<{ apiKeys: { id: string }[] }>(`{ apiKeys { id } }`, {}, bearer(SITE_ADMIN));
    expect(listed.data?.apiKeys.map((k) => k.id)).toEqual([own.data?.createApiKey.apiKey.id]);

    const REVOKE = `mutation ($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;
    for (const id of [wide.data?.createApiKey.apiKey.id, other.data?.createApiKey.apiKey.id]) {
      const r = await t.gql(REVOKE, { id }, bearer(SITE_ADMIN));
      expect(codes(r)).toEqual(["NOT_FOUND"]);
    }
    const { rows } = await t.database.pool.query(
      "SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NOT NULL",
    );
    expect(rows[0].n).toBe(0);
    const mine = await t.gql(REVOKE, { id: own.data?.createApiKey.apiKey.id }, bearer(SITE_ADMIN));
    expect(mine.errors).toBeUndefined();
  });

  test("a key with 100,000 sites is refused", async () => {
    const sites = Array.from({ length: 100_000 }, (_, i) => `s${i}`);
    const r = await t.gql(CREATE, { i: { role: "reader", sites } });
    expect(codes(r)).toEqual(["BAD_USER_INPUT"]);
  });
});

describe("another site's session answers like a missing one", () => {
  test("session(id) is null for both", async () => {
    const foreign = await t.gql(`{ session(id: "victim-1") { id } }`, {}, bearer(TEST_KEYS.siteCpms));
    const missing = await t.gql(`{ session(id: "no-such-session") { id } }`, {}, bearer(TEST_KEYS.siteCpms));
    expect(foreign).toEqual({ data: { session: null } });
    expect(missing).toEqual({ data: { session: null } });
  });

  test("endSession is NOT_FOUND for both, and ends nothing", async () => {
    const END = `mutation ($id: ID!) { endSession(sessionId: $id) { id } }`;
    const foreign = await t.gql(END, { id: "victim-1" }, bearer(TEST_KEYS.siteIngest));
    const missing = await t.gql(END, { id: "no-such-session" }, bearer(TEST_KEYS.siteIngest));
    expect(codes(foreign)).toEqual(["NOT_FOUND"]);
    expect(codes(missing)).toEqual(["NOT_FOUND"]);
    expect(foreign.errors?.[0]?.message.replace("victim-1", "X")).toBe(
      missing.errors?.[0]?.message.replace("no-such-session", "X"),
    );
    const { rows } = await t.database.pool.query("SELECT count(*)::int AS n FROM session_ends_raw");
    expect(rows[0].n).toBe(0);
  });
});

test("an impossible date is refused naming the field, not rolled over", async () => {
  const r = await t.gql(RECORD, { i: { ...sample("site-a", "date-1"), sessionStartTs: "2026-02-30T00:00:00Z" } });
  expect(codes(r)).toEqual(["BAD_USER_INPUT"]);
  expect(JSON.stringify(r.errors)).toContain("sessionStartTs");
  expect(await rawSamples("date-1")).toBe(0);
});
