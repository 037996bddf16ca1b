// Cases that need a PostgreSQL server of their own (so the shared test server is untouched): a
// durable slot invalidated by max_slot_wal_keep_size (a tiny allowance here), and a server
// shutdown and restart while a transaction is still in the handler.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type EmbeddedServer, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrate } from "../../src/db/migrate.js";
import { type ChangeTransaction, createChangeStream } from "../../src/stream/change-stream.js";
import { until } from "../helpers/until.js";

let dataDir: string;
let server: EmbeddedServer | undefined;
let pool: pg.Pool;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-test-stream-"));
  server = await startEmbeddedPostgres({ dataDir, maxSlotWalKeepSize: "1MB" });
  pool = new pg.Pool({ connectionString: server.connectionString, max: 2 });
  pool.on("error", () => {});
  await migrate(pool);
}, 60_000);

afterAll(async () => {
  await pool?.end().catch(() => {});
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function newCommand(session: string): Promise<void> {
  const site = `site-${session}`;
  await pool.query(
    `INSERT INTO site_demand_raw (site_id, demand_limit_kw, current_demand_kw, ev_load_kw, measured_ts, source)
     VALUES ($1, 100, 0, 0, now(), 'graphql')`,
    [site],
  );
  await pool.query(
    `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
       current_power_kw, session_start_ts, sampled_ts, source)
     VALUES ($1, 'cp', 1, $2, 11, 0, now(), now(), 'graphql')`,
    [session, site],
  );
}

test("an invalidated durable slot is recreated, logged at error level and counted", async () => {
  const slot = "inval_slot";
  const errors: string[] = [];
  const txs: ChangeTransaction[] = [];
  const options = {
    connectionString: server!.connectionString,
    slotName: slot,
    temporary: false,
    minBackoffMs: 50,
    onTransaction: async (tx: ChangeTransaction) => {
      txs.push(tx);
    },
    logger: { info() {}, warn() {}, error: (_o: object, msg?: string) => errors.push(msg ?? "") },
  };
  const first = createChangeStream(options);
  await first.start();
  await newCommand("before");
  await until(() => txs.length > 0, { timeoutMs: 10_000, what: "first delivery" });
  await first.stop();

  // Fall behind by more than max_slot_wal_keep_size: the checkpoint invalidates the slot.
  await pool.query("CREATE TABLE filler (x text)");
  await until(
    async () => {
      await pool.query("INSERT INTO filler SELECT repeat('x', 500) FROM generate_series(1, 3000)");
      await pool.query("SELECT pg_switch_wal()");
      await pool.query("CHECKPOINT");
      const { rows } = await pool.query("SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1", [slot]);
      return rows[0]?.wal_status === "lost";
    },
    { timeoutMs: 20_000, what: "slot invalidated" },
  );

  const second = createChangeStream(options);
  try {
    await second.start();
    expect(second.state).toBe("streaming");
    expect(second.slotRecreations).toBe(1);
    expect(errors.some((m) => m.includes("invalidated"))).toBe(true);
    const { rows } = await pool.query("SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1", [slot]);
    expect(rows[0]?.wal_status).not.toBe("lost");
    const seen = txs.length;
    await newCommand("after");
    await until(
      () => txs.slice(seen).some((tx) => tx.events.some((e) => e.kind === "command" && e.sessionId === "after")),
      { timeoutMs: 10_000, what: "delivery on the recreated slot" },
    );
  } finally {
    await second.stop();
    await pool.query("SELECT pg_drop_replication_slot($1)", [slot]).catch(() => {});
  }
});

// Runs last in this file: it shuts the dedicated server down and starts it again.
test("a server shutdown is not held up by a transaction in a handler; after the restart it is redelivered", async () => {
  let stuck = false;
  const states: string[] = [];
  const acked: ChangeTransaction[] = [];
  const s = createChangeStream({
    connectionString: server!.connectionString,
    slotName: "restart_slot",
    temporary: false,
    minBackoffMs: 100,
    onTransaction: (tx) => {
      if (!tx.events.some((e) => e.kind === "command" && e.sessionId === "stuck")) {
        acked.push(tx);
        return Promise.resolve();
      }
      stuck = true;
      return new Promise<void>(() => {}); // e.g. a sink that never answers
    },
    logger: { info() {}, warn() {}, error() {} },
  });
  s.onStateChange((st) => states.push(st));
  try {
    await s.start();
    await newCommand("acked");
    await until(() => acked.some((tx) => tx.events.some((e) => e.kind === "command" && e.sessionId === "acked")), {
      timeoutMs: 10_000,
      what: "acked",
    });
    await newCommand("stuck");
    await until(() => stuck, { timeoutMs: 10_000, what: "the stuck transaction" });
    // A fast shutdown makes each walsender wait until its client confirmed everything it sent.
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      server!.stop().then(() => "stopped"),
      new Promise((r) => {
        timer = setTimeout(() => r("hung"), 15_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(outcome).toBe("stopped");
    console.log(`fast shutdown with a transaction still in a handler took ${Date.now() - started} ms`);
    await until(() => states.includes("down"), { timeoutMs: 5000, what: "state down" });
  } finally {
    await s.stop();
  }

  // Same data folder, new port: the slot kept its confirmed position across the restart.
  server = await startEmbeddedPostgres({ dataDir, maxSlotWalKeepSize: "1MB" });
  const again: ChangeTransaction[] = [];
  const r = createChangeStream({
    connectionString: server.connectionString,
    slotName: "restart_slot",
    temporary: false,
    onTransaction: async (tx) => {
      again.push(tx);
    },
    logger: { info() {}, warn() {}, error() {} },
  });
  try {
    await r.start();
    const first = await until(() => again[0], { timeoutMs: 10_000, what: "redelivery after restart" });
    expect(first.events.map((e) => e.kind === "command" && e.sessionId)).toContain("stuck");
    expect(again.some((tx) => tx.events.some((e) => e.kind === "command" && e.sessionId === "acked"))).toBe(false);
    expect(r.slotRecreations).toBe(0);
  } finally {
    await r.stop();
    const admin = new pg.Client({ connectionString: server.connectionString });
    await admin.connect();
    await admin.query("SELECT pg_drop_replication_slot('restart_slot')").catch(() => {});
    await admin.end();
  }
});
