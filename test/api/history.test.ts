// History (siteHistory from the per-site status log), dead letters (admin), first/after on the
// long lists, and the domain metrics on /metrics with and without METRICS_REQUIRE_KEY.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { at, demand, samples, setClock } from "../helpers/events.js";
import { until } from "../helpers/until.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  const pool = t.database.pool;
  // Site h1: demand 40 kW at T0, 100 at T0+30 s, 60 at T0+60 s, 60 again at T0+90 s (no change).
  const steps: [number, number][] = [
    [0, 40],
    [30, 100],
    [60, 60],
    [90, 60],
  ];
  for (const [offset, current] of steps) {
    await setClock(pool, at(offset), 0);
    await demand(pool, "h1", { limit: 100, current, ev: 0, ts: at(offset) });
  }
  await setClock(pool, at(120), 0);
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

const HISTORY = `query ($site: ID!, $from: DateTime!, $to: DateTime!, $bucket: Int!) {
  siteHistory(siteId: $site, from: $from, to: $to, bucketSeconds: $bucket) {
    start demandKw maxDemandKw buildingKw evLoadKw commandedKw limitKw evCapKw targetKw priceTier drActive
  }
}`;

type Bucket = Record<string, number | string | boolean | null>;
const history = async (vars: Record<string, unknown>, key: string = TEST_KEYS.admin) =>
  t.gql<{ siteHistory: Bucket[] }>(HISTORY, vars, bearer(key));

describe("siteHistory", () => {
  test("a row per change only: the repeated sample wrote nothing", async () => {
    const { rows } = await t.database.pool.query<{ ts: Date; demand_kw: number }>(
      "SELECT ts, demand_kw FROM site_history WHERE site_id = 'h1' ORDER BY ts",
    );
    expect(rows.map((r) => [r.ts.toISOString(), r.demand_kw])).toEqual([
      [at(0), 40],
      [at(30), 100],
      [at(60), 60],
    ]);
  });

  test("time-weighted buckets, carried in from before, null before the first row and after now", async () => {
    const res = await history({ site: "h1", from: at(-60), to: at(180), bucket: 60 });
    expect(res.errors).toBeUndefined();
    const buckets = res.data?.siteHistory ?? [];
    expect(buckets.map((b) => b.start)).toEqual([at(-60), at(0), at(60), at(120)]);
    expect(buckets[0]).toMatchObject({ demandKw: null, limitKw: null, priceTier: null, drActive: null });
    expect(buckets[1]).toMatchObject({
      demandKw: 70,
      maxDemandKw: 100,
      buildingKw: 70,
      evLoadKw: 0,
      commandedKw: 0,
      limitKw: 100,
      priceTier: "OFF_PEAK",
      drActive: false,
    });
    expect(buckets[2]).toMatchObject({ demandKw: 60, maxDemandKw: 60, limitKw: 100 });
    expect(buckets[3]).toMatchObject({ demandKw: null, limitKw: null });
  });

  test("a bucket that starts after a change gets the value carried in; the last bucket ends at `to`", async () => {
    const res = await history({ site: "h1", from: at(45), to: at(120), bucket: 60 });
    const buckets = res.data?.siteHistory ?? [];
    expect(buckets.map((b) => b.start)).toEqual([at(45), at(105)]);
    // 15 s at 100 kW (carried in from T0+30), 45 s at 60 kW.
    expect(buckets[0]?.demandKw).toBeCloseTo(70, 6);
    expect(buckets[1]?.demandKw).toBe(60);
  });

  test("bad ranges are refused, naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ from: at(60), to: at(0), bucket: 60 }, "to"],
      [{ from: at(0), to: at(0), bucket: 60 }, "to"],
      [{ from: "yesterday", to: at(0), bucket: 60 }, "from"],
      [{ from: at(0), to: "2026-13-01T00:00:00Z", bucket: 60 }, "to"],
      [{ from: at(0), to: at(600), bucket: 5 }, "bucketSeconds"],
      [{ from: at(0), to: at(600), bucket: 8 * 86_400 }, "bucketSeconds"],
      [{ from: at(0), to: at(86_400), bucket: 10 }, "bucketSeconds"],
    ];
    for (const [vars, field] of cases) {
      const res = await history({ site: "h1", ...vars });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
      expect(res.errors?.[0]?.message).toContain(field);
    }
  });

  test("scoped to the key's sites", async () => {
    const refused = await history({ site: "h1", from: at(0), to: at(60), bucket: 60 }, TEST_KEYS.siteReader);
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const allowed = await history({ site: "site-a", from: at(0), to: at(60), bucket: 60 }, TEST_KEYS.siteReader);
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data?.siteHistory).toEqual([expect.objectContaining({ start: at(0), demandKw: null })]);
    const ingest = await history({ site: "h1", from: at(0), to: at(60), bucket: 60 }, TEST_KEYS.ingest);
    expect(ingest.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

describe("deadLetters", () => {
  const DEAD = `query ($first: Int, $after: String) {
    deadLetters(first: $first, after: $after) {
      nodes { id topic partition offset key payload reason headers receivedAt dlqPublishedAt }
      pageInfo { endCursor hasNextPage }
    }
  }`;
  type Page = {
    deadLetters: {
      nodes: { id: string; offset: string; payload: string }[];
      pageInfo: { endCursor: string; hasNextPage: boolean };
    };
  };

  beforeAll(async () => {
    await t.database.pool.query(
      `INSERT INTO dead_letters (topic, partition, kafka_offset, key, payload, reason)
       SELECT 'dl-topic', 0, n, convert_to('k' || n, 'UTF8'), convert_to('{"bad":' || n || '}', 'UTF8'), 'not JSON'
       FROM generate_series(1, 3) n`,
    );
  });

  test("admin pages through them, newest first", async () => {
    const first = await t.gql<Page>(DEAD, { first: 2 });
    expect(first.errors).toBeUndefined();
    const page1 = first.data?.deadLetters;
    expect(page1?.nodes.map((n) => n.offset)).toEqual(["3", "2"]);
    expect(page1?.nodes[0]?.payload).toBe('{"bad":3}');
    expect(page1?.pageInfo.hasNextPage).toBe(true);
    const second = await t.gql<Page>(DEAD, { first: 2, after: page1?.pageInfo.endCursor });
    expect(second.data?.deadLetters.nodes.map((n) => n.offset)).toEqual(["1"]);
    expect(second.data?.deadLetters.pageInfo.hasNextPage).toBe(false);
  });

  test("other roles are refused; bad first and after name the field", async () => {
    for (const key of [TEST_KEYS.reader, TEST_KEYS.cpms, TEST_KEYS.ingest]) {
      const res = await t.gql(DEAD, {}, bearer(key));
      expect(res.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
    const zero = await t.gql(DEAD, { first: 0 });
    expect(zero.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    const bad = await t.gql(DEAD, { after: "not-a-cursor" });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
  });
});

describe("first/after on sessions and alerts", () => {
  beforeAll(async () => {
    await demand(t.database.pool, "pg", { limit: 50, current: 0, ev: 0, ts: at(120) });
    // Two sites over their limit: an alert each.
    for (const site of ["al-1", "al-2"])
      await demand(t.database.pool, site, { limit: 10, current: 30, ev: 0, ts: at(120) });
    await samples(t.database.pool, [
      { session: "pg-1", site: "pg", rated: 7, ts: at(120), start: at(100) },
      { session: "pg-2", site: "pg", rated: 7, ts: at(120), start: at(101) },
      { session: "pg-3", site: "pg", rated: 7, ts: at(120), start: at(102) },
    ]);
  });

  test("sessions page by the id of the last one received", async () => {
    const q = `query ($after: String) { sessions(siteId: "pg", first: 2, after: $after) { id } }`;
    const one = await t.gql<{ sessions: { id: string }[] }>(q, {});
    expect(one.data?.sessions.map((s) => s.id)).toEqual(["pg-1", "pg-2"]);
    const two = await t.gql<{ sessions: { id: string }[] }>(q, { after: "pg-2" });
    expect(two.data?.sessions.map((s) => s.id)).toEqual(["pg-3"]);
    const all = await t.gql<{ sessions: { id: string }[] }>(`{ sessions(siteId: "pg") { id } }`);
    expect(all.data?.sessions).toHaveLength(3);
  });

  test("alerts page newest first; a bad cursor or size names the field", async () => {
    const all = await t.gql<{ alerts: { id: string }[] }>(`{ alerts(activeOnly: false) { id } }`);
    const ids = all.data?.alerts.map((a) => a.id) ?? [];
    expect(ids.length).toBeGreaterThanOrEqual(2);
    const first = await t.gql<{ alerts: { id: string }[] }>(`{ alerts(activeOnly: false, first: 1) { id } }`);
    expect(first.data?.alerts.map((a) => a.id)).toEqual(ids.slice(0, 1));
    const rest = await t.gql<{ alerts: { id: string }[] }>(
      `query ($after: String) { alerts(activeOnly: false, after: $after) { id } }`,
      { after: ids[0] },
    );
    expect(rest.data?.alerts.map((a) => a.id)).toEqual(ids.slice(1));
    const bad = await t.gql(`{ alerts(after: "x1") { id } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
    const big = await t.gql(`{ sessions(first: 5000) { id } }`);
    expect(big.errors?.[0]?.extensions, JSON.stringify(big.errors)).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "first",
    });
  });
});

describe("/metrics", () => {
  const metricsUrl = (app: TestApp) => app.url.replace(/\/graphql$/, "/metrics");
  const scrape = async (app: TestApp, headers: Record<string, string> = {}) => {
    const res = await fetch(metricsUrl(app), { headers });
    return { status: res.status, text: await res.text() };
  };

  test("per-site figures, alerts by type, commands and event-to-command latency", async () => {
    // Commands for the pg sessions reach this process's live stream.
    const text = await until(
      async () => {
        const { text } = await scrape(t);
        return text.includes('scc_commands_total{site="pg"} 3') ? text : null;
      },
      { what: "the commands of site pg on /metrics", timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(text).toContain('scc_site_demand_kw{site="h1"} 60');
    expect(text).toContain('scc_site_limit_kw{site="h1"} 100');
    expect(text).toContain('scc_site_building_load_kw{site="h1"} 60');
    expect(text).toMatch(/scc_site_ev_cap_kw\{site="h1"\} \d/);
    expect(text).toMatch(/scc_site_target_kw\{site="h1"\} \d/);
    expect(text).toContain('scc_site_active_sessions{site="pg"} 3');
    expect(text).toContain('scc_site_commanded_kw{site="pg"} 21');
    expect(text).toContain('scc_site_price_tier{site="h1",tier="OFF_PEAK"} 1');
    // Every type for every site, 0 when none active: the same counts as the alerts table.
    const { rows } = await t.database.pool.query<{ site_id: string; type: string; n: number }>(
      "SELECT site_id, type, count(*)::int AS n FROM alerts WHERE status = 'ACTIVE' GROUP BY site_id, type",
    );
    for (const r of rows) expect(text).toContain(`scc_site_alerts_active{site="${r.site_id}",type="${r.type}"} ${r.n}`);
    expect(text).toContain('scc_site_alerts_active{site="pg",type="SITE_OVER_DEMAND"} 0');
    expect(text).toMatch(/scc_event_to_command_seconds_count \d+/);
    expect(Number(/scc_event_to_command_seconds_count (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(3);
  }, 30_000);

  test("open by default; with METRICS_REQUIRE_KEY only a reading key for every site", async () => {
    expect((await scrape(t)).status).toBe(200);
    const locked = await startTestApp({ metricsRequireKey: true });
    try {
      const none = await scrape(locked);
      expect(none.status).toBe(401);
      expect(none.text).toContain("METRICS_REQUIRE_KEY");
      expect((await scrape(locked, bearer("not-a-key-at-all"))).status).toBe(401);
      expect((await scrape(locked, bearer(TEST_KEYS.ingest))).status).toBe(403);
      expect((await scrape(locked, bearer(TEST_KEYS.siteReader))).status).toBe(403);
      const reader = await scrape(locked, bearer(TEST_KEYS.reader));
      expect(reader.status).toBe(200);
      expect(reader.text).toContain("scc_event_to_command_seconds");
    } finally {
      await locked.stop();
    }
  }, 60_000);
});
