// setpointChanged and alertChanged through real graphql-ws and SSE clients, fed by logical decoding.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { setClock, T0 } from "../helpers/events.js";
import { collect, wsClient } from "../helpers/ws.js";

let database: TestDatabase;
let t: TestApp;
beforeAll(async () => {
  database = await createTestDatabase();
  t = await startTestApp({}, database);
  await setClock(database.pool, T0);
});
afterAll(async () => {
  await t?.stop();
  await database.drop();
});

const SETPOINTS = `subscription ($siteId: ID) { setpointChanged(siteId: $siteId) { sessionId siteId setpointKw commandedKw limitedBy commandId priceTier } }`;
const ALERTS = `subscription ($siteId: ID) { alertChanged(siteId: $siteId) { type status siteId } }`;

type SetpointEvent = { setpointChanged: { sessionId: string; siteId: string; setpointKw: number; commandId: string } };

async function demand(app: TestApp, site: string, limit: number, current = 0, seconds = 0) {
  const r = await app.gql(`mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id } }`, {
    input: {
      siteId: site,
      demandLimitKw: limit,
      currentDemandKw: current,
      evLoadKw: 0,
      measuredTs: new Date(Date.parse(T0) + seconds * 1000).toISOString(),
    },
  });
  expect(r.errors).toBeUndefined();
}

async function plug(app: TestApp, site: string, sessions: string[]) {
  const r = await app.gql(
    `mutation ($inputs: [SessionSampleInput!]!) { recordSessionSamples(inputs: $inputs) { accepted } }`,
    {
      inputs: sessions.map((id) => ({
        sessionId: id,
        chargePointId: `cp-${id}`,
        connectorId: 1,
        siteId: site,
        ratedPowerKw: 22,
        sessionStartTs: T0,
        sampledTs: T0,
      })),
    },
  );
  expect(r.errors).toBeUndefined();
}

describe("graphql-ws", () => {
  test("a mutation produces setpoint events for the subscribed site only, in order, with unique command ids", async () => {
    const client = wsClient(t.wsUrl);
    const mine = await collect<SetpointEvent>(client, SETPOINTS, { siteId: "s1" });
    const other = await collect<SetpointEvent>(client, SETPOINTS, { siteId: "s-other" });
    const all = await collect<SetpointEvent>(client, SETPOINTS, {});
    await demand(t, "s1", 30);
    await plug(t, "s1", ["s1-a", "s1-b"]);
    const events = await mine.waitFor(2);
    expect(events.map((e) => [e.setpointChanged.sessionId, e.setpointChanged.setpointKw])).toEqual([
      ["s1-a", 15],
      ["s1-b", 15],
    ]);
    // The limit drops: both decrease by at least the deadband, so both are commanded.
    await demand(t, "s1", 20, 0, 1);
    await mine.waitFor(4);
    expect(mine.events.slice(2).map((e) => e.setpointChanged.setpointKw)).toEqual([10, 10]);
    await all.waitFor(4);
    expect(new Set(mine.events.map((e) => e.setpointChanged.commandId)).size).toBe(4);
    expect(other.events).toEqual([]);
    mine.dispose();
    other.dispose();
    all.dispose();
    await client.dispose();
  });

  test("a session that ends (endSession, or a timeout) gets one final 0 kW SESSION_ENDED event", async () => {
    const client = wsClient(t.wsUrl);
    const mine = await collect<{
      setpointChanged: { sessionId: string; setpointKw: number; commandedKw: number; limitedBy: string };
    }>(client, SETPOINTS, { siteId: "s6" });
    await demand(t, "s6", 40);
    await plug(t, "s6", ["s6-a", "s6-b"]);
    await mine.waitFor(2);
    const ended = await t.gql(
      `mutation ($id: ID!, $at: DateTime) { endSession(sessionId: $id, endedAt: $at) { id active } }`,
      {
        id: "s6-a",
        at: new Date(Date.parse(T0) + 5_000).toISOString(),
      },
    );
    expect(ended.errors).toBeUndefined();
    // a's final command, then b's rise to its rated power (commands in session order).
    await mine.waitFor(4);
    expect(mine.events.slice(2).map((e) => e.setpointChanged)).toMatchObject([
      { sessionId: "s6-a", setpointKw: 0, commandedKw: 0, limitedBy: "SESSION_ENDED" },
      { sessionId: "s6-b", setpointKw: 22, commandedKw: 22, limitedBy: "RATED_POWER" },
    ]);
    // b times out: no sample for the site's 300 s session timeout.
    await setClock(database.pool, new Date(Date.parse(T0) + 301_000).toISOString());
    await database.pool.query("SELECT recompute_sites(ARRAY['s6'])");
    await mine.waitFor(5);
    expect(mine.events[4]?.setpointChanged).toMatchObject({
      sessionId: "s6-b",
      setpointKw: 0,
      commandedKw: 0,
      limitedBy: "SESSION_ENDED",
    });
    await setClock(database.pool, T0);
    await demand(t, "s6", 41, 0, 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(mine.events).toHaveLength(5);
    mine.dispose();
    await client.dispose();
  });

  test("alerts: raised then cleared", async () => {
    const client = wsClient(t.wsUrl);
    const alerts = await collect<{ alertChanged: { type: string; status: string } }>(client, ALERTS, { siteId: "s2" });
    await demand(t, "s2", 10, 15, 0);
    await demand(t, "s2", 10, 5, 1);
    await alerts.waitFor(2);
    expect(alerts.events.map((e) => [e.alertChanged.type, e.alertChanged.status])).toEqual([
      ["SITE_OVER_DEMAND", "ACTIVE"],
      ["SITE_OVER_DEMAND", "CLEARED"],
    ]);
    alerts.dispose();
    await client.dispose();
  });

  test("a stalled subscriber does not delay the others", async () => {
    // A raw socket that subscribes and then never reads: its server-side buffer fills up.
    const { default: WebSocket } = await import("ws");
    const stalled = new WebSocket(t.wsUrl, "graphql-transport-ws");
    await new Promise((r) => stalled.once("open", r));
    stalled.send(JSON.stringify({ type: "connection_init", payload: bearer(TEST_KEYS.admin) }));
    await new Promise((r) => stalled.once("message", r));
    stalled.send(
      JSON.stringify({ id: "1", type: "subscribe", payload: { query: SETPOINTS, variables: { siteId: "s3" } } }),
    );
    await new Promise((r) => setTimeout(r, 50));
    const received: string[] = [];
    stalled.on("message", (m) => received.push(m.toString()));
    stalled.pause();

    const client = wsClient(t.wsUrl);
    const healthy = await collect<SetpointEvent>(client, SETPOINTS, { siteId: "s3" });
    // 1,200 sessions, then nine cuts of the site limit, each at least the deadband per session:
    // 12,000 commands, more than a subscriber may buffer (10,000). The healthy subscriber keeps up with each step.
    await demand(t, "s3", 100_000);
    const ids = Array.from({ length: 1200 }, (_, i) => `s3-${String(i).padStart(4, "0")}`);
    await plug(t, "s3", ids);
    await healthy.waitFor(1200, 20_000);
    for (let step = 1; step <= 9; step++) {
      await demand(t, "s3", 25_000 - step * 1_000, 0, step);
      await healthy.waitFor(1200 * (step + 1), 20_000);
    }
    // The paused socket absorbed what the kernel buffers hold; the server never waited for it.
    // (Closing a subscriber that stays behind is proven on the fan-out itself: fanout.test.ts.)
    stalled.resume();
    expect(healthy.errors).toEqual([]);
    stalled.close();
    healthy.dispose();
    await client.dispose();
  });
});

describe("SSE", () => {
  test("setpointChanged over server-sent events", async () => {
    const controller = new AbortController();
    const res = await fetch(t.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...bearer(TEST_KEYS.admin) },
      body: JSON.stringify({ query: SETPOINTS, variables: { siteId: "s4" } }),
      signal: controller.signal,
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body?.getReader();
    let text = "";
    const read = (async () => {
      const decoder = new TextDecoder();
      while (!text.includes("s4-a")) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        text += decoder.decode(chunk.value);
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    await demand(t, "s4", 50);
    await plug(t, "s4", ["s4-a"]);
    await read;
    controller.abort();
    expect(text).toContain('"setpointKw":22');
  });
});

describe("two instances on one database", () => {
  test("both serve subscriptions, whichever instance took the mutation", async () => {
    const second = await startTestApp({}, database);
    try {
      const c1 = wsClient(t.wsUrl);
      const c2 = wsClient(second.wsUrl);
      const on1 = await collect<SetpointEvent>(c1, SETPOINTS, { siteId: "s5" });
      const on2 = await collect<SetpointEvent>(c2, SETPOINTS, { siteId: "s5" });
      await demand(second, "s5", 30);
      await plug(second, "s5", ["s5-a"]);
      await plug(t, "s5", ["s5-b"]);
      const [e1, e2] = await Promise.all([on1.waitFor(3), on2.waitFor(3)]);
      const ids = (events: SetpointEvent[]) => events.map((e) => e.setpointChanged.commandId);
      expect(ids(e1)).toEqual(ids(e2));
      on1.dispose();
      on2.dispose();
      await c1.dispose();
      await c2.dispose();
    } finally {
      await second.stop();
    }
  });
});
