// The change stream against the real server: typed events, acknowledgement of handled
// transactions only (durably, in the slot), temporary slots, reconnects, lost slots.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  type ChangeStream,
  type ChangeStreamOptions,
  createChangeStream,
  type StreamState,
  slotLagBytes,
} from "../../src/stream/change-stream.js";
import type { AlertEvent, ChangeTransaction, SetpointCommandEvent } from "../../src/stream/events.js";
import { compareLsn } from "../../src/stream/lsn.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { at, demand, samples, setClock, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";

let t: TestDatabase;
const streams: ChangeStream[] = [];
const durableSlots: string[] = [];
let n = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterEach(async () => {
  await Promise.all(streams.splice(0).map((s) => s.stop()));
  const slots = durableSlots.splice(0);
  if (slots.length > 0) {
    await until(
      async () => {
        const { rows } = await t.pool.query(
          "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = ANY($1) AND active",
          [slots],
        );
        return rows[0].n === 0;
      },
      { timeoutMs: 5000, what: "slots inactive" },
    );
    await t.pool.query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1)",
      [slots],
    );
  }
});
afterAll(async () => {
  await t?.drop();
});

const uniq = (prefix: string) => `${prefix}_${randomBytes(4).toString("hex")}`;

interface Logged {
  level: "info" | "warn" | "error";
  msg: string;
  o: object;
}

function stream(
  overrides: Partial<ChangeStreamOptions> & Pick<ChangeStreamOptions, "slotName" | "temporary" | "onTransaction">,
  logs: Logged[] = [],
): ChangeStream {
  const s = createChangeStream({
    connectionString: t.url,
    minBackoffMs: 100,
    maxBackoffMs: 1000,
    logger: {
      info: (o, msg) => logs.push({ level: "info", msg: msg ?? "", o }),
      warn: (o, msg) => logs.push({ level: "warn", msg: msg ?? "", o }),
      error: (o, msg) => logs.push({ level: "error", msg: msg ?? "", o }),
    },
    ...overrides,
  });
  streams.push(s);
  if (!overrides.temporary) durableSlots.push(overrides.slotName);
  return s;
}

/** Collects delivered transactions; onTransaction resolves at once. */
function collector() {
  const txs: ChangeTransaction[] = [];
  return {
    txs,
    onTransaction: async (tx: ChangeTransaction) => {
      txs.push(tx);
    },
    commands: () => txs.flatMap((tx) => tx.events.filter((e): e is SetpointCommandEvent => e.kind === "command")),
    alerts: () => txs.flatMap((tx) => tx.events.filter((e): e is AlertEvent => e.kind === "alert")),
  };
}

/** One transaction that creates one setpoint command for a new session at a new site. */
async function newCommand(tag: string): Promise<{ site: string; session: string }> {
  n += 1;
  const site = `st-${tag}-${n}`;
  const session = `ss-${tag}-${n}`;
  await demand(t.pool, site, { limit: 100, current: 20, ev: 0 });
  await samples(t.pool, [{ session, site, rated: 11, current: 4 }]);
  return { site, session };
}

async function slotRow(slot: string) {
  const { rows } = await t.pool.query(
    "SELECT active, active_pid, temporary, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1",
    [slot],
  );
  return rows[0] as { active: boolean; active_pid: number | null; temporary: boolean; confirmed: string } | undefined;
}

describe("events", () => {
  test("a setpoint command arrives as a typed ChangeTransaction", async () => {
    const got = collector();
    const s = stream({ slotName: uniq("tmp"), temporary: true, onTransaction: got.onTransaction });
    await s.start();
    expect(s.state).toBe("streaming");

    const before = Date.now();
    const { site, session } = await newCommand("typed");
    const cmd = (await until(() => got.commands().find((c) => c.sessionId === session), {
      timeoutMs: 10_000,
      what: "command",
    })) as SetpointCommandEvent;
    const { rows } = await t.pool.query(
      "SELECT seq, cursor, command_id, created_at, ocpp_request FROM setpoint_commands WHERE session_id = $1",
      [session],
    );
    expect(rows).toHaveLength(1);
    expect(cmd).toEqual({
      kind: "command",
      seq: rows[0].seq,
      cursor: rows[0].cursor,
      commandId: rows[0].command_id,
      sessionId: session,
      siteId: site,
      chargePointId: `cp-${session}`,
      connectorId: 1,
      setpointKw: 11,
      previousKw: null,
      limitedBy: "RATED_POWER",
      ratedPowerKw: 11,
      currentPowerKw: 4,
      socPct: null,
      priceTier: "OFF_PEAK",
      curtailmentPct: 0,
      commandTs: new Date(T0),
      createdAt: rows[0].created_at,
      // the jsonb column arrives as text through pgoutput and is parsed to the same object
      ocppVersion: "V16",
      ocppRequest: rows[0].ocpp_request,
    });
    expect(cmd.ocppRequest).toMatchObject({ connectorId: 1, csChargingProfiles: { chargingProfileKind: "Absolute" } });
    expect(typeof cmd.seq).toBe("string");
    const tx = got.txs.find((x) => x.events.includes(cmd));
    expect(tx?.commitLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(compareLsn(tx!.endLsn, tx!.commitLsn)).toBeGreaterThan(0);
    expect(tx!.commitTime.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(tx!.commitTime.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(s.transactionsDelivered).toBeGreaterThanOrEqual(1);
  });

  test("an alert raised then cleared arrives as an insert then an update", async () => {
    const got = collector();
    const s = stream({ slotName: uniq("tmp"), temporary: true, onTransaction: got.onTransaction });
    await s.start();
    const site = `st-alert-${++n}`;
    await demand(t.pool, site, { limit: 50, current: 60, ev: 10, ts: at(0) });
    await demand(t.pool, site, { limit: 50, current: 40, ev: 10, ts: at(1) });
    const alerts = await until(
      () => {
        const a = got.alerts().filter((e) => e.siteId === site);
        return a.length >= 2 ? a : null;
      },
      { timeoutMs: 10_000, what: "two alert events" },
    );
    expect(alerts).toHaveLength(2);
    const [raised, cleared] = alerts as [AlertEvent, AlertEvent];
    expect(raised).toMatchObject({
      kind: "alert",
      type: "SITE_OVER_DEMAND",
      siteId: site,
      sessionId: null,
      status: "ACTIVE",
      clearedAt: null,
      raisedAt: new Date(T0),
      updatedAt: new Date(T0),
    });
    expect(raised.message).toContain("exceeds the demand limit");
    expect(typeof raised.id).toBe("string");
    expect(cleared).toMatchObject({ kind: "alert", id: raised.id, status: "CLEARED", clearedAt: new Date(T0) });
    // Two separate commits, in commit order.
    const txOf = (e: AlertEvent) => got.txs.find((x) => x.events.includes(e))!;
    expect(compareLsn(txOf(raised).commitLsn, txOf(cleared).commitLsn)).toBeLessThan(0);
  });
});

describe("acknowledgement", () => {
  test("durable slot: an unacknowledged transaction is redelivered, an acknowledged one never", async () => {
    const slot = uniq("dur");
    const isOf = (tag: string) => (tx: ChangeTransaction) =>
      tx.events.some((e) => e.kind === "command" && e.sessionId.startsWith(`ss-${tag}-`));

    // Stream A creates the slot, then 'crashes' while the handler of our transaction is pending.
    let pendingA: ChangeTransaction | null = null;
    const a = stream({
      slotName: slot,
      temporary: false,
      onTransaction: (tx) => {
        if (!isOf("crash")(tx)) return Promise.resolve();
        pendingA = tx;
        return new Promise<void>(() => {}); // never resolves
      },
    });
    await a.start();
    const { session } = await newCommand("crash");
    const tx = await until(() => pendingA, { timeoutMs: 10_000, what: "delivery to stream A" });
    await new Promise((r) => setTimeout(r, 300)); // keepalives must not move the position past it
    expect(compareLsn(a.confirmedLsn ?? "0/0", tx.commitLsn)).toBeLessThanOrEqual(0);
    await a.stop();
    const afterCrash = await slotRow(slot);
    expect(afterCrash).toBeDefined();
    expect(compareLsn(afterCrash!.confirmed, tx.commitLsn)).toBeLessThanOrEqual(0);

    // A second transaction, committed while no stream runs.
    await newCommand("held");

    // Stream B: redelivers tx and acknowledges it; the next transaction then stays pending.
    const gotB: ChangeTransaction[] = [];
    let confirmedWhenHeld: string | null = null;
    let heldTx: ChangeTransaction | null = null;
    const b = stream({
      slotName: slot,
      temporary: false,
      onTransaction: (x) => {
        gotB.push(x);
        if (!isOf("held")(x)) return Promise.resolve();
        heldTx = x;
        confirmedWhenHeld = b.confirmedLsn;
        return new Promise<void>(() => {});
      },
    });
    await b.start();
    const held = await until(() => heldTx, { timeoutMs: 10_000, what: "redelivery and the held transaction" });
    const redelivered = gotB.find((x) => x.commitLsn === tx.commitLsn);
    expect(redelivered?.events).toEqual(tx.events);
    expect(gotB.map((x) => x.commitLsn)).toEqual([tx.commitLsn, held.commitLsn]);
    expect(gotB.flatMap((x) => x.events).filter((e) => e.kind === "command" && e.sessionId === session)).toHaveLength(
      1,
    );
    // Acknowledged: exactly the end of tx (the end LSN of its commit), not what was received.
    expect(confirmedWhenHeld).not.toBeNull();
    expect(compareLsn(confirmedWhenHeld!, tx.endLsn)).toBeGreaterThanOrEqual(0);
    expect(compareLsn(confirmedWhenHeld!, held.commitLsn)).toBeLessThanOrEqual(0);
    expect(b.transactionsDelivered).toBe(1);
    await b.stop();
    // Durable: the slot itself holds that position.
    const afterAck = await slotRow(slot);
    expect(afterAck?.active).toBe(false);
    expect(compareLsn(afterAck!.confirmed, tx.endLsn)).toBeGreaterThanOrEqual(0);
    expect(compareLsn(afterAck!.confirmed, held.commitLsn)).toBeLessThanOrEqual(0);
    expect(await slotLagBytes(t.pool, slot)).toBeGreaterThan(0);

    // Stream C: the held transaction again, tx never.
    const gotC = collector();
    const c = stream({ slotName: slot, temporary: false, onTransaction: gotC.onTransaction });
    await c.start();
    const next = await newCommand("next");
    await until(() => gotC.commands().some((e) => e.sessionId === next.session), {
      timeoutMs: 10_000,
      what: "next transaction on C",
    });
    expect(gotC.txs[0]?.commitLsn).toBe(held.commitLsn);
    expect(gotC.txs.some((x) => x.commitLsn === tx.commitLsn)).toBe(false);
    expect(c.slotRecreations).toBe(0);
  });

  test("a rejected onTransaction is redelivered on a new connection, in order", async () => {
    const slot = uniq("rej");
    const logs: Logged[] = [];
    const seen: string[] = [];
    let failures = 0;
    const s = stream(
      {
        slotName: slot,
        temporary: false,
        onTransaction: async (tx) => {
          const sessions = tx.events.flatMap((e) => (e.kind === "command" ? [e.sessionId] : []));
          if (sessions.some((x) => x.startsWith("ss-rej1-")) && failures === 0) {
            failures += 1;
            throw new Error("sink unavailable");
          }
          seen.push(...sessions);
        },
      },
      logs,
    );
    await s.start();
    const first = await newCommand("rej1");
    const second = await newCommand("rej2");
    await until(() => seen.includes(second.session), { timeoutMs: 10_000, what: "both transactions" });
    expect(failures).toBe(1);
    expect(seen.filter((x) => x === first.session || x === second.session)).toEqual([first.session, second.session]);
    expect(logs.some((l) => l.level === "error" && l.msg.includes("onTransaction failed"))).toBe(true);
  });
});

describe("slots and connections", () => {
  test("a temporary slot disappears after stop", async () => {
    const slot = uniq("tmp");
    const s = stream({ slotName: slot, temporary: true, onTransaction: async () => {} });
    await s.start();
    expect(await slotRow(slot)).toMatchObject({ active: true, temporary: true });
    await s.stop();
    expect(s.state).toBe("stopped");
    await until(async () => (await slotRow(slot)) === undefined, { timeoutMs: 5000, what: "temporary slot dropped" });
    expect(await slotLagBytes(t.pool, slot)).toBeNull();
  });

  test("reconnects after the walsender is terminated, losing nothing (durable slot)", async () => {
    const slot = uniq("rec");
    const got = collector();
    const states: StreamState[] = [];
    const s = stream({ slotName: slot, temporary: false, onTransaction: got.onTransaction });
    s.onStateChange((st) => states.push(st));
    await s.start();
    const one = await newCommand("rec1");
    const tx1 = await until(() =>
      got.txs.find((x) => x.events.some((e) => e.kind === "command" && e.sessionId === one.session)),
    );
    await until(async () => compareLsn((await slotRow(slot))!.confirmed, tx1.endLsn) >= 0, {
      timeoutMs: 5000,
      what: "tx1 acknowledged",
    });

    await t.pool.query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", [
      slot,
    ]);
    const two = await newCommand("rec2"); // committed while the stream is (probably) down
    await until(() => states.includes("down"), { timeoutMs: 5000, what: "state down" });
    await until(() => s.state === "streaming", { timeoutMs: 10_000, what: "streaming again" });
    const three = await newCommand("rec3");
    await until(() => got.commands().some((c) => c.sessionId === three.session), { timeoutMs: 10_000, what: "tx3" });
    const mine = got.commands().filter((c) => [one.session, two.session, three.session].includes(c.sessionId));
    expect(mine.map((c) => c.sessionId)).toEqual([one.session, two.session, three.session]);
    expect(states.slice(states.indexOf("down"))).toEqual(expect.arrayContaining(["down", "connecting", "streaming"]));
    expect(s.slotRecreations).toBe(0);
  });

  test("a dropped durable slot is recreated, logged at error level and counted", async () => {
    const slot = uniq("drop");
    const logs: Logged[] = [];
    const got = collector();
    const s = stream({ slotName: slot, temporary: false, onTransaction: got.onTransaction, minBackoffMs: 400 }, logs);
    await s.start();
    expect(s.slotRecreations).toBe(0);
    // Kill the walsender and drop the slot before the stream comes back (retry if it won the race).
    await until(
      async () => {
        await t.pool.query(
          "SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name = $1 AND active",
          [slot],
        );
        return t.pool.query("SELECT pg_drop_replication_slot($1)", [slot]).then(
          () => true,
          () => false,
        );
      },
      { timeoutMs: 10_000, what: "slot dropped" },
    );
    await until(() => s.slotRecreations === 1 && s.state === "streaming", {
      timeoutMs: 10_000,
      what: "slot recreated",
    });
    expect(await slotRow(slot)).toMatchObject({ active: true, temporary: false });
    expect(logs.some((l) => l.level === "error" && l.msg.includes("disappeared"))).toBe(true);
    const after = await newCommand("drop");
    await until(() => got.commands().some((c) => c.sessionId === after.session), {
      timeoutMs: 10_000,
      what: "delivery after recreation",
    });
  });

  test("replication ended by the server with an error (connection kept) is handled like a lost connection", async () => {
    const slot = uniq("cancel");
    const logs: Logged[] = [];
    const got = collector();
    const s = stream({ slotName: slot, temporary: false, onTransaction: got.onTransaction }, logs);
    await s.start();
    const before = await slotRow(slot);
    // A cancel ends START_REPLICATION with an ErrorResponse; the session itself stays open.
    await t.pool.query("SELECT pg_cancel_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", [slot]);
    await until(() => logs.some((l) => l.level === "error" && l.msg.includes("replication stopped by the server")), {
      timeoutMs: 5000,
      what: "error logged",
    });
    await until(async () => s.state === "streaming" && (await slotRow(slot))?.active_pid !== before?.active_pid, {
      timeoutMs: 10_000,
      what: "new walsender",
    });
    const after = await newCommand("cancel");
    await until(() => got.commands().some((c) => c.sessionId === after.session), {
      timeoutMs: 10_000,
      what: "delivery after recovery",
    });
  });

  test("a server that cannot be reached: start() resolves, the stream stays down, stop() cancels retries", async () => {
    const url = new URL(t.url);
    url.port = "1"; // nothing listens there
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const logs: Logged[] = [];
    const s = stream(
      { slotName: uniq("down"), temporary: true, onTransaction: async () => {}, connectionString: url.toString() },
      logs,
    );
    await s.start();
    expect(s.state).toBe("down");
    await until(() => logs.filter((l) => l.msg.includes("reconnect failed")).length >= 2, {
      timeoutMs: 5000,
      what: "retries",
    });
    await s.stop();
    expect(s.state).toBe("stopped");
    expect(timeouts()).toBeLessThanOrEqual(before);
    const retries = logs.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(logs.length).toBe(retries);
    expect(s.state).toBe("stopped");
  });

  test("start() fails clearly when the publication cannot be created", async () => {
    const s = createChangeStream({
      connectionString: t.url,
      slotName: uniq("bad"),
      temporary: true,
      publication: "no_such_pub_here",
      onTransaction: async () => {},
      logger: { info() {}, warn() {}, error() {} },
    });
    // The publication is created on demand; make that impossible by hiding a published table.
    await t.pool.query("ALTER TABLE alert_events RENAME TO alert_events_hidden");
    try {
      await expect(s.start()).rejects.toThrow(/cannot create publication no_such_pub_here/);
      expect(s.state).toBe("stopped");
    } finally {
      await t.pool.query("ALTER TABLE alert_events_hidden RENAME TO alert_events");
      await s.stop();
    }
  });
});

test("latency sanity check: insert commit -> onTransaction (logged, not asserted)", async () => {
  const deliveredAt = new Map<string, number>();
  const s = stream({
    slotName: uniq("lat"),
    temporary: true,
    onTransaction: async (tx) => {
      for (const e of tx.events) if (e.kind === "command") deliveredAt.set(e.sessionId, performance.now());
    },
  });
  await s.start();
  const site = `st-lat-${++n}`;
  await demand(t.pool, site, { limit: 1000, current: 0, ev: 0 });
  const delays: number[] = []; // client saw the commit -> onTransaction (negative: the stream was first)
  const totals: number[] = []; // insert sent -> onTransaction (includes the triggers' recompute)
  for (let i = 0; i < 20; i++) {
    const session = `ss-lat-${n}-${i}`;
    const sentAt = performance.now();
    await samples(t.pool, [{ session, site, rated: 7, current: 1 }]);
    const committedAt = performance.now();
    const at = await until(() => deliveredAt.get(session), { timeoutMs: 5000, what: "delivery" });
    delays.push(at - committedAt);
    totals.push(at - sentAt);
  }
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((x, y) => x - y);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    return `p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, max ${p(1)} ms`;
  };
  console.log(
    `change stream latency over ${delays.length} inserts: commit seen by client -> onTransaction ${stats(delays)} ` +
      `(${delays.filter((d) => d < 0).length} delivered before the client saw its commit); ` +
      `insert sent -> onTransaction ${stats(totals)}`,
  );
  expect(delays).toHaveLength(20);
});
