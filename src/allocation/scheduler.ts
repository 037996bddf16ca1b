// Time boundaries (SPEC §3): sleeps until the earliest next_boundary_at the database knows, then
// recomputes just the sites that reached it. No fixed-interval polling: it wakes on its timer or
// when the database announces an earlier boundary (NOTIFY scc_boundary from recompute_sites and
// set_clock). Nothing is held only in memory, so a restart loses no boundary.

import pg from "pg";
import type { Logger } from "pino";

export interface Scheduler {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Recompute due sites now (also what the timer does). Returns how many were recomputed. */
  tick(): Promise<number>;
}

const MAX_TIMER_MS = 2_147_483_647;
/** Fire slightly after the boundary: now() is the transaction start and must have passed it. */
const SLACK_MS = 5;
const RECONNECT_MS = 1_000;

export function createScheduler(options: {
  pool: pg.Pool;
  connectionString: string;
  logger: Logger;
  onRecomputed?: (sites: number) => void;
}): Scheduler {
  const { pool, logger } = options;
  let listener: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = true;
  let running: Promise<void> | null = null;
  let again = false;

  async function tick(): Promise<number> {
    const { rows } = await pool.query<{ n: number }>("SELECT recompute_due_sites() AS n");
    const n = rows[0]?.n ?? 0;
    if (n > 0) options.onRecomputed?.(n);
    if (n > 0) logger.debug({ sites: n }, "time boundary reached: sites recomputed");
    return n;
  }

  async function cycle(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = null;
    await tick();
    const { rows } = await pool.query<{ s: number | null }>("SELECT seconds_to_next_boundary() AS s");
    const seconds = rows[0]?.s;
    if (stopped || seconds === null || seconds === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.ceil(seconds * 1000) + SLACK_MS);
    timer = setTimeout(wake, delay);
  }

  /** Runs one cycle at a time; a wake during a cycle runs one more afterwards. */
  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = cycle()
      .catch((error) => {
        logger.warn({ err: error }, "scheduler cycle failed; retrying");
        if (!stopped) timer = setTimeout(wake, RECONNECT_MS);
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  // After a lost connection (PostgreSQL restart): listen again, then catch up on due sites.
  function relisten(): void {
    setTimeout(() => {
      if (stopped) return;
      listen().then(wake, (error) => {
        logger.warn({ err: error }, "scheduler cannot listen yet; retrying");
        relisten();
      });
    }, RECONNECT_MS);
  }

  async function listen(): Promise<void> {
    const client = new pg.Client({ connectionString: options.connectionString, application_name: "scc-scheduler" });
    client.on("notification", () => wake());
    client.on("error", () => {});
    client.on("end", () => {
      if (stopped || listener !== client) return;
      listener = null;
      relisten();
    });
    await client.connect();
    await client.query("LISTEN scc_boundary");
    listener = client;
  }

  return {
    async start() {
      stopped = false;
      await listen();
      wake();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const client = listener;
      listener = null;
      await client?.end().catch(() => {});
      await running;
    },
    tick,
  };
}
