// The resumable feed through the real service: list then watch, resume after a cursor over
// graphql-ws and SSE (id / Last-Event-ID), the commands connection, CURSOR_EXPIRED, alerts, and
// gap-free delivery while many writers commit concurrently and the change stream is cut.
import type { Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { at, demand, samples, setClock, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import { wsClient } from "../helpers/ws.js";

let database: TestDatabase;
let t: TestApp;
beforeAll(async () => {
  database = await createTestDatabase();
  t = await startTestApp({}, database);
  await setClock(database.pool, T0);
});
afterAll(async () => {
  await t?.stop();
  await database?.drop();
});

const FEED = `subscription ($siteId: ID, $after: String) {
  setpointChanged(siteId: $siteId, after: $after) { cursor commandId sessionId siteId setpointKw }
}`;
interface FeedEvent {
  cursor: string;
  commandId: string;
  sessionId: string;
  siteId: string;
  setpointKw: number;
}

/** A graphql-ws subscription that records events until disposed. */
function watch(client: Client, variables: Record<string, unknown>) {
  const events: FeedEvent[] = [];
  const errors: unknown[] = [];
  let done = false;
  const dispose = client.subscribe<{ setpointChanged: FeedEvent }>(
    { query: FEED, variables },
    {
      next: (value) => {
        if (value.data) events.push(value.data.setpointChanged);
        if (value.errors) errors.push(...value.errors);
      },
      error: (error) => {
        errors.push(error);
        done = true;
      },
      complete: () => {
        done = true;
      },
    },
  );
  return {
    events,
    errors,
    get done() {
      return done;
    },
    dispose,
  };
}

async function outboxAfter(cursor: string, siteLike = "%"): Promise<{ cursor: string; command_id: string }[]> {
  const { rows } = await database.pool.query<{ cursor: string; command_id: string }>(
    "SELECT cursor, command_id FROM setpoint_commands WHERE cursor > $1 AND site_id LIKE $2 ORDER BY cursor",
    [cursor, siteLike],
  );
  return rows;
}

async function head(): Promise<string> {
  return String((await database.pool.query("SELECT value FROM feed_counter")).rows[0].value);
}

/** Writers on different sites, concurrently: every round adds a session, so every session of the site gets a command. */
async function writeConcurrently(prefix: string, writers: number, rounds: number): Promise<void> {
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const site = `${prefix}-${w}`;
      await demand(database.pool, site, { limit: 40, current: 0, ev: 0, ts: at(0) });
      for (let r = 0; r < rounds; r++) {
        await samples(
          database.pool,
          Array.from({ length: r + 1 }, (_, i) => ({ session: `${site}-s${i}`, site, rated: 22, ts: at(r) })),
        );
        // Paced, so the writes outlast several resumes of the subscriber even on an idle machine.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }),
  );
}

describe("list then watch", () => {
  test("setpointSnapshot gives the setpoints and a cursor; watching after it misses nothing and repeats nothing", async () => {
    await demand(database.pool, "lw-1", { limit: 50, current: 0, ev: 0 });
    await samples(database.pool, [{ session: "lw-1-a", site: "lw-1", rated: 22 }]);
    const snap = await t.gql<{ setpointSnapshot: { cursor: string; setpoints: { sessionId: string }[] } }>(
      `query { setpointSnapshot(siteId: "lw-1") { cursor setpoints { sessionId setpointKw } } }`,
    );
    expect(snap.errors).toBeUndefined();
    const { cursor, setpoints } = snap.data!.setpointSnapshot;
    expect(setpoints.map((s) => s.sessionId)).toEqual(["lw-1-a"]);
    expect(cursor).toBe(await head());

    await samples(database.pool, [
      { session: "lw-1-a", site: "lw-1", rated: 22 },
      { session: "lw-1-b", site: "lw-1", rated: 22 },
    ]);
    const client = wsClient(t.wsUrl);
    const w = watch(client, { siteId: "lw-1", after: cursor });
    const expected = await outboxAfter(cursor, "lw-1");
    expect(expected.length).toBeGreaterThan(0);
    await until(() => w.events.length >= expected.length, { timeoutMs: 10_000, what: "the replay" });
    await samples(database.pool, [{ session: "lw-1-c", site: "lw-1", rated: 22 }]);
    const all = await outboxAfter(cursor, "lw-1");
    await until(() => w.events.length >= all.length, { timeoutMs: 10_000, what: "replay then live" });
    await new Promise((r) => setTimeout(r, 200));
    expect(w.events.map((e) => e.commandId)).toEqual(all.map((r) => r.command_id));
    expect(w.events.map((e) => e.cursor)).toEqual(all.map((r) => r.cursor));
    expect(w.errors).toEqual([]);
    w.dispose();
    await client.dispose();
  });

  test("a bad cursor is BAD_USER_INPUT naming the field; one below the retention is CURSOR_EXPIRED", async () => {
    const bad = await t.gql(`query { commands(after: "abc") { nodes { cursor } } }`);
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(bad.errors?.[0]?.extensions?.field).toBe("after");
    const ahead = await t.gql(`query { commands(after: "999999999") { nodes { cursor } } }`);
    expect(ahead.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const first = await t.gql(`query { commands(first: 0) { nodes { cursor } } }`);
    expect(first.errors?.[0]?.extensions?.field).toBe("first");

    // Pruning (as the retention does): delete the oldest rows, then raise the horizon.
    const { rows } = await database.pool.query("SELECT min(cursor)::text AS c FROM setpoint_commands");
    const oldest = rows[0].c as string;
    await database.pool.query("DELETE FROM setpoint_commands WHERE cursor = $1", [oldest]);
    await database.pool.query("SELECT advance_feed_horizon('commands', $1)", [oldest]);
    const expired = await t.gql(`query ($a: String) { commands(after: $a) { nodes { cursor } } }`, {
      a: String(BigInt(oldest) - 1n),
    });
    expect(expired.errors?.[0]?.extensions?.code).toBe("CURSOR_EXPIRED");
    expect(expired.errors?.[0]?.message).toMatch(/re-list/);
    const client = wsClient(t.wsUrl);
    const w = watch(client, { after: "0" });
    await until(() => w.done, { timeoutMs: 10_000, what: "the subscription to fail" });
    expect(JSON.stringify(w.errors)).toContain("CURSOR_EXPIRED");
    await client.dispose();
    // From the horizon on, nothing is missing.
    const ok = await t.gql(`query ($a: String) { commands(after: $a, first: 1) { nodes { cursor } } }`, { a: oldest });
    expect(ok.errors).toBeUndefined();
  });

  test("the commands connection pages in cursor order, scoped to the key's sites", async () => {
    await demand(database.pool, "site-a", { limit: 50, current: 0, ev: 0 });
    await samples(database.pool, [
      { session: "pg-a1", site: "site-a", rated: 11 },
      { session: "pg-a2", site: "site-a", rated: 11 },
    ]);
    const all = await outboxAfter("0");
    type Page = {
      commands: { nodes: { cursor: string; siteId: string }[]; pageInfo: { endCursor: string; hasNextPage: boolean } };
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 100; i++) {
      const page: { data?: Page | null; errors?: unknown } = await t.gql<Page>(
        `query ($after: String) { commands(after: $after, first: 3) { nodes { cursor siteId } pageInfo { endCursor hasNextPage } } }`,
        { after },
      );
      expect(page.errors).toBeUndefined();
      seen.push(...page.data!.commands.nodes.map((n) => n.cursor));
      after = page.data!.commands.pageInfo.endCursor;
      if (!page.data!.commands.pageInfo.hasNextPage) break;
    }
    const horizon = (
      await database.pool.query("SELECT pruned_cursor::text AS h FROM feed_horizon WHERE feed = 'commands'")
    ).rows[0].h as string;
    expect(seen).toEqual(all.filter((r) => BigInt(r.cursor) > BigInt(horizon)).map((r) => r.cursor));
    const scoped = await t.gql<Page>(
      `query { commands(first: 1000) { nodes { cursor siteId } } }`,
      undefined,
      bearer(TEST_KEYS.siteCpms),
    );
    expect(scoped.data!.commands.nodes.length).toBeGreaterThan(0);
    expect(new Set(scoped.data!.commands.nodes.map((n) => n.siteId))).toEqual(new Set(["site-a"]));
  });
});

describe("resume", () => {
  test("many concurrent writers on different sites; a subscriber disconnected and resumed again and again gets every command once, in cursor order", async () => {
    const start = await head();
    const client = wsClient(t.wsUrl);
    const received: FeedEvent[] = [];
    let cursor = start;
    let writing = true;
    const writes = writeConcurrently("rs", 6, 10).finally(() => {
      writing = false;
    });
    let resumes = 0;
    for (;;) {
      const w = watch(client, { after: cursor });
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 150));
      w.dispose();
      expect(w.errors).toEqual([]);
      received.push(...w.events);
      cursor = received.at(-1)?.cursor ?? cursor;
      resumes += 1;
      if (!writing && cursor === (await outboxAfter(start)).at(-1)?.cursor) break;
      if (resumes > 400) throw new Error("did not catch up");
    }
    await writes;
    const outbox = await outboxAfter(start);
    expect(resumes).toBeGreaterThan(3);
    expect(received.map((e) => e.commandId)).toEqual(outbox.map((r) => r.command_id));
    await client.dispose();
  }, 120_000);

  test("the change stream cut (walsender terminated, its slot gone) while writes go on: live subscribers get every command once", async () => {
    const start = await head();
    const client = wsClient(t.wsUrl);
    const live = watch(client, {}); // live only, subscribed before the writes
    const resumed = watch(client, { after: start });
    await new Promise((r) => setTimeout(r, 200));
    const writes = writeConcurrently("cut", 4, 10);
    let cuts = 0;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const { rows } = await database.pool.query(
        `SELECT pg_terminate_backend(active_pid) AS ok FROM pg_replication_slots
         WHERE slot_name LIKE 'scc_live_%' AND database = current_database() AND active`,
      );
      cuts += rows.length;
    }
    await writes;
    expect(cuts).toBeGreaterThan(0);
    const outbox = await outboxAfter(start);
    await until(() => live.events.length >= outbox.length && resumed.events.length >= outbox.length, {
      timeoutMs: 30_000,
      what: `every command (live ${live.events.length}, resumed ${resumed.events.length} of ${outbox.length})`,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(live.events.map((e) => e.commandId)).toEqual(outbox.map((r) => r.command_id));
    expect(resumed.events.map((e) => e.commandId)).toEqual(outbox.map((r) => r.command_id));
    live.dispose();
    resumed.dispose();
    await client.dispose();
  }, 120_000);
});

describe("SSE", () => {
  async function readSse(headers: Record<string, string>, body: unknown, want: number) {
    const controller = new AbortController();
    const res = await fetch(t.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        ...bearer(TEST_KEYS.admin),
        ...headers,
      },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const events: { id: string | null; data: FeedEvent }[] = [];
    const deadline = Date.now() + 15_000;
    while (events.length < want && Date.now() < deadline) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value);
      let end = text.indexOf("\n\n");
      while (end >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (data && /^event: next$/m.test(block)) {
          events.push({
            id: /^id: (.+)$/m.exec(block)?.[1] ?? null,
            data: (JSON.parse(data) as { data: { setpointChanged: FeedEvent } }).data.setpointChanged,
          });
        }
        end = text.indexOf("\n\n");
      }
    }
    controller.abort();
    return events;
  }

  test("events carry id: <cursor>; a reconnect with Last-Event-ID resumes after it", async () => {
    const start = await head();
    await demand(database.pool, "sse-1", { limit: 60, current: 0, ev: 0 });
    await samples(database.pool, [
      { session: "sse-1-a", site: "sse-1", rated: 22 },
      { session: "sse-1-b", site: "sse-1", rated: 22 },
      { session: "sse-1-c", site: "sse-1", rated: 22 },
    ]);
    const expected = await outboxAfter(start, "sse-1");
    expect(expected.length).toBeGreaterThanOrEqual(3);
    const body = { query: FEED, variables: { siteId: "sse-1", after: start } };
    const first = await readSse({}, body, 1);
    expect(first[0]?.id).toBe(expected[0]?.cursor);
    expect(first[0]?.data.cursor).toBe(expected[0]?.cursor);
    // The same request again, as an EventSource repeats it, with the id it got last.
    const rest = await readSse({ "last-event-id": first[0]!.id! }, body, expected.length - 1);
    expect(rest.map((e) => e.id)).toEqual(expected.slice(1).map((r) => r.cursor));
    const garbage = await fetch(t.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        ...bearer(TEST_KEYS.admin),
        "last-event-id": "x1",
      },
      body: JSON.stringify(body),
    });
    const text = await garbage.text();
    expect(text).toContain("BAD_USER_INPUT");
    expect(text).toContain("Last-Event-ID");
  });
});

describe("alerts", () => {
  test("alertChanged(after:) replays the alert event log, then live", async () => {
    const start = await head();
    await demand(database.pool, "al-r", { limit: 10, current: 50, ev: 0, ts: at(1) });
    await demand(database.pool, "al-r", { limit: 10, current: 5, ev: 0, ts: at(2) });
    const { rows } = await database.pool.query(
      "SELECT cursor, status FROM alert_events WHERE site_id = 'al-r' AND cursor > $1 ORDER BY cursor",
      [start],
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const client = wsClient(t.wsUrl);
    const events: { cursor: string; status: string }[] = [];
    const dispose = client.subscribe<{ alertChanged: { cursor: string; status: string } }>(
      {
        query: `subscription ($a: String) { alertChanged(siteId: "al-r", after: $a) { cursor status type } }`,
        variables: { a: start },
      },
      { next: (v) => v.data && events.push(v.data.alertChanged), error: () => {}, complete: () => {} },
    );
    await until(() => events.length >= rows.length, { timeoutMs: 10_000, what: "alert replay" });
    expect(events.map((e) => e.cursor)).toEqual(rows.map((r) => r.cursor));
    expect(events.map((e) => e.status)).toEqual(rows.map((r) => r.status));
    dispose();
    await client.dispose();
  });
});
