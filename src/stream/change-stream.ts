// The change stream (SPEC §5): reads committed changes of the command outbox and the alerts
// through a pgoutput logical replication slot and hands them on one transaction at a time.
//
// Delivery contract:
// - onTransaction is called once per committed transaction that touched the published tables,
//   in commit order, never concurrently (a single worker awaits each call).
// - The position reported to the server (written = flushed = applied) is only ever the end LSN of
//   a transaction whose onTransaction promise resolved, or, when nothing is pending at all (no
//   transaction partly received, queued or in a handler), the WAL end of a server keepalive:
//   everything before it has been sent and handled, and a transaction that commits later has a
//   later commit LSN, so PostgreSQL still sends it. Without the latter a durable slot would pin
//   WAL forever while only unpublished tables are written.
// - With a durable slot a crash, a dropped connection or a rejected onTransaction loses nothing:
//   the next connection resumes at the slot's confirmed position and redelivers what was not
//   acknowledged (at-least-once; consumers de-duplicate by command_id). A temporary slot is for
//   live fan-out only: it starts at the current position on every (re)connect.
import type pg from "pg";
import type { ChangeEvent, ChangeTransaction } from "./events.js";
import { formatLsn, parseLsn } from "./lsn.js";
import { toChangeEvent } from "./mapping.js";
import { PgOutputDecoder } from "./pgoutput.js";
import { type CopyBothMessage, ReplicationConnection } from "./replication-reader.js";

export type { ChangeEvent, ChangeTransaction } from "./events.js";

export interface ChangeStreamLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface ChangeStreamOptions {
  connectionString: string;
  slotName: string;
  /** true: a TEMPORARY slot for live fan-out (starts at the current position, vanishes on disconnect). false: a durable slot resumed from its confirmed_flush_lsn. */
  temporary: boolean;
  publication?: string; // default "scc_changes"
  /** Called once per committed transaction that touched the outbox or alerts, strictly in commit order, never concurrently. The stream acknowledges (flush LSN = this transaction's end LSN) only after the returned promise resolves. If it rejects, the stream reconnects and the transaction is redelivered (durable slot). */
  onTransaction(tx: ChangeTransaction): Promise<void>;
  logger?: ChangeStreamLogger;
  /** Reconnect backoff, ms (tests use small values). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Periodic status update (with a reply request, doubling as a liveness probe), ms. Default 10 000. */
  statusIntervalMs?: number;
  /** Pause reading from the server when this many transactions wait for onTransaction. Default 1000. */
  maxQueuedTransactions?: number;
}

export type StreamState = "stopped" | "connecting" | "streaming" | "down";

export interface ChangeStream {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly state: StreamState;
  /** The last position reported to the server as flushed ('X/Y'), null before the first. */
  readonly confirmedLsn: string | null;
  readonly slotRecreations: number;
  readonly transactionsDelivered: number;
  onStateChange(listener: (s: StreamState) => void): () => void;
}

export const DEFAULT_PUBLICATION = "scc_changes";
const PUBLISHED_TABLES = "setpoint_commands, alerts";
const PING_BURST_COUNT = 10;
const PING_BURST_WINDOW_MS = 1000;

export function createChangeStream(options: ChangeStreamOptions): ChangeStream {
  return new PgChangeStream(options);
}

/** Bytes of WAL the durable slot retains (pg_current_wal_lsn() - confirmed_flush_lsn), null if missing. */
export async function slotLagBytes(pool: pg.Pool, slotName: string): Promise<number | null> {
  const { rows } = await pool.query<{ lag: number | null }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag
     FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  return rows[0]?.lag ?? null;
}

/** An error that retrying will not fix: the publication or the slot cannot be set up. */
export class ChangeStreamSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ChangeStreamSetupError";
  }
}

const consoleLogger: ChangeStreamLogger = {
  info: () => {},
  warn: (o, msg) => console.warn(msg ?? "", o),
  error: (o, msg) => console.error(msg ?? "", o),
};

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Errors worth retrying: lost connections, a server starting or stopping, a slot in use. */
function isTransient(error: unknown): boolean {
  const code = sqlState(error);
  if (!code) return true; // socket errors, timeouts
  return (
    code.startsWith("08") || // connection exceptions
    code.startsWith("57") || // admin shutdown, crash shutdown, cannot connect now
    code.startsWith("53") || // insufficient resources (too many connections)
    code === "55006" || // object_in_use: the slot is still active for another (old) walsender
    code === "40001" ||
    code === "40P01"
  );
}

function errorInfo(error: unknown): object {
  if (error instanceof Error) return { err: { message: error.message, code: sqlState(error), name: error.name } };
  return { err: String(error) };
}

interface QueuedTransaction {
  session: number;
  tx: ChangeTransaction;
  end: bigint;
}

interface OpenTransaction {
  commitLsn: string;
  events: ChangeEvent[];
}

interface SlotRow extends Record<string, unknown> {
  plugin: string | null;
  slot_type: string;
  database: string | null;
  current_db: string;
  temporary: boolean | string;
  wal_status: string | null;
  invalidation_reason: string | null;
  confirmed_flush_lsn: string | null;
}

class PgChangeStream implements ChangeStream {
  private readonly publication: string;
  private readonly log: ChangeStreamLogger;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly statusIntervalMs: number;
  private readonly maxQueued: number;

  private _state: StreamState = "stopped";
  private readonly listeners = new Set<(s: StreamState) => void>();
  private _slotRecreations = 0;
  private _delivered = 0;

  /** Position last acknowledged (and reported) to the server. */
  private acked: bigint | null = null;
  private stopRequested = true;
  private session = 0;
  private conn: ReplicationConnection | null = null;
  private connecting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  /** The connection of the attempt in progress, until it streams or fails. */
  private settingUp: ReplicationConnection | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private lastMessageAt = 0;
  private readonly pings: number[] = [];
  /** A durable slot this stream has used: finding it missing later means it was lost. */
  private slotSeen = false;

  private decoder = new PgOutputDecoder();
  private open: OpenTransaction | null = null;
  private readonly queue: QueuedTransaction[] = [];
  private working = false;
  private inHandler = false;

  constructor(private readonly options: ChangeStreamOptions) {
    if (!/^[a-z0-9_]{1,63}$/.test(options.slotName)) {
      throw new Error(`slot name must be 1-63 characters of a-z, 0-9 and _: ${JSON.stringify(options.slotName)}`);
    }
    this.publication = options.publication ?? DEFAULT_PUBLICATION;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.publication)) {
      throw new Error(`publication name must be a lower-case identifier: ${JSON.stringify(this.publication)}`);
    }
    this.log = options.logger ?? consoleLogger;
    this.minBackoffMs = options.minBackoffMs ?? 500;
    this.maxBackoffMs = Math.max(this.minBackoffMs, options.maxBackoffMs ?? 30_000);
    this.statusIntervalMs = options.statusIntervalMs ?? 10_000;
    this.maxQueued = Math.max(1, options.maxQueuedTransactions ?? 1000);
  }

  get state(): StreamState {
    return this._state;
  }
  get confirmedLsn(): string | null {
    return this.acked === null ? null : formatLsn(this.acked);
  }
  get slotRecreations(): number {
    return this._slotRecreations;
  }
  get transactionsDelivered(): number {
    return this._delivered;
  }

  onStateChange(listener: (s: StreamState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setState(state: StreamState): void {
    if (state === this._state) return;
    this._state = state;
    for (const listener of [...this.listeners]) {
      try {
        listener(state);
      } catch (error) {
        this.log.error({ ...errorInfo(error), slot: this.options.slotName }, "change stream state listener threw");
      }
    }
  }

  private get ctx(): object {
    return { slot: this.options.slotName, temporary: this.options.temporary };
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle
  // ---------------------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.stopping) await this.stopping;
    if (!this.stopRequested) throw new Error("change stream already started");
    this.stopRequested = false;
    this.attempt = 0;
    this.setState("connecting");
    try {
      await this.runAttempt();
    } catch (error) {
      if (error instanceof ChangeStreamSetupError) {
        this.stopRequested = true;
        this.setState("stopped");
        throw error;
      }
      if (this.stopRequested) return;
      this.log.warn(
        { ...this.ctx, ...errorInfo(error) },
        "change stream could not connect; retrying in the background",
      );
      this.scheduleReconnect();
    }
  }

  async stop(): Promise<void> {
    this.stopping ??= this.doStop().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopRequested = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    // An attempt in progress (possibly waiting in CREATE_REPLICATION_SLOT for open transactions
    // to finish) is cut short rather than waited for.
    this.settingUp?.destroy(new Error("change stream stopped"));
    if (this.connecting) await this.connecting.catch(() => {});
    this.stopStatusTimer();
    const conn = this.conn;
    this.conn = null;
    this.session += 1; // a handler still running can no longer acknowledge
    this.queue.length = 0;
    this.open = null;
    if (conn) {
      if (this.acked !== null) conn.sendStatus(this.acked);
      await conn.close();
    }
    this.setState("stopped");
  }

  private runAttempt(): Promise<void> {
    const attempt = this.connectOnce();
    this.connecting = attempt;
    return attempt.finally(() => {
      if (this.connecting === attempt) this.connecting = null;
    });
  }

  private scheduleReconnect(): void {
    if (this.stopRequested || this.reconnectTimer) return;
    this.setState("down");
    const base = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopRequested) return;
      this.setState("connecting");
      this.runAttempt().catch((error: unknown) => {
        if (this.stopRequested) return;
        const level = error instanceof ChangeStreamSetupError || !isTransient(error) ? "error" : "warn";
        this.log[level]({ ...this.ctx, ...errorInfo(error), attempt: this.attempt }, "change stream reconnect failed");
        this.scheduleReconnect();
      });
    }, delay);
  }

  private async connectOnce(): Promise<void> {
    const conn = new ReplicationConnection({
      connectionString: this.options.connectionString,
      applicationName: `scc-stream-${this.options.slotName}`.slice(0, 63),
    });
    this.settingUp = conn;
    try {
      await conn.connect();
      if (this.stopRequested) throw new Error("stopped");
      await this.ensurePublication(conn);
      const startLsn = await this.ensureSlot(conn);
      if (this.stopRequested) throw new Error("stopped");

      const session = ++this.session;
      this.decoder = new PgOutputDecoder();
      this.open = null;
      this.conn = conn;
      conn.onEnd((error) => this.onConnectionEnd(session, conn, error));
      await conn.startLogical(
        this.options.slotName,
        startLsn,
        { proto_version: "1", publication_names: this.publication },
        (message) => this.onMessage(session, conn, message),
      );
      if (this.stopRequested) throw new Error("stopped");
    } catch (error) {
      if (this.conn === conn) this.conn = null;
      conn.destroy();
      throw error;
    } finally {
      if (this.settingUp === conn) this.settingUp = null;
    }
    // The server may end the command with an error and keep the connection (e.g. the walsender's
    // query was cancelled): that ends this session just like a lost connection.
    void conn.streamEnded.then((error) => {
      if (this.conn !== conn) return;
      this.log.error(
        { ...this.ctx, ...errorInfo(error ?? new Error("replication ended")) },
        "replication stopped by the server; reconnecting",
      );
      this.fail(conn, error ?? new Error("replication ended by the server"));
    });
    this.lastMessageAt = Date.now();
    this.attempt = 0;
    this.startStatusTimer(conn);
    this.setState("streaming");
    this.log.info({ ...this.ctx, confirmedLsn: this.confirmedLsn }, "change stream streaming");
    // Anything the worker still holds from an earlier connection is stale: kick it anyway.
    void this.drain();
  }

  private onConnectionEnd(session: number, conn: ReplicationConnection, error: Error | null): void {
    if (this.conn !== conn || session !== this.session) return; // closed by stop(), fail() or a failed attempt
    this.abandon(session);
    if (this.stopRequested) return;
    this.log.warn(
      { ...this.ctx, ...errorInfo(error ?? new Error("connection ended")) },
      "change stream connection lost; reconnecting",
    );
    this.scheduleReconnect();
  }

  /**
   * Gives up the current connection at once (a handler failed, a message could not be decoded,
   * the server went silent): nothing more of it is handed on or acknowledged, so the next
   * connection redelivers from the last acknowledged transaction, in order.
   */
  private fail(conn: ReplicationConnection, error: Error): void {
    if (this.conn !== conn) return;
    this.abandon(this.session);
    conn.destroy(error);
    this.scheduleReconnect();
  }

  private abandon(session: number): void {
    this.conn = null;
    this.stopStatusTimer();
    this.open = null;
    this.dropQueued(session);
  }

  private dropQueued(session: number): void {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]?.session === session) this.queue.splice(i, 1);
  }

  // ---------------------------------------------------------------------------------------------
  // Publication and slot
  // ---------------------------------------------------------------------------------------------

  private async ensurePublication(conn: ReplicationConnection): Promise<void> {
    try {
      const rows = await conn.query(
        `SELECT 1 FROM pg_publication WHERE pubname = ${conn.escapeLiteral(this.publication)}`,
      );
      if (rows.length > 0) return;
      try {
        await conn.query(`CREATE PUBLICATION ${this.publication} FOR TABLE ${PUBLISHED_TABLES}`);
        this.log.warn({ ...this.ctx, publication: this.publication }, "publication was missing; created it");
      } catch (error) {
        if (sqlState(error) !== "42710") throw error; // created concurrently
      }
    } catch (error) {
      if (isTransient(error)) throw error;
      throw new ChangeStreamSetupError(
        `change stream: cannot create publication ${this.publication}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Makes sure the slot exists and is usable; returns the LSN to start streaming from. */
  private async ensureSlot(conn: ReplicationConnection): Promise<bigint> {
    const slot = this.options.slotName;
    try {
      if (this.options.temporary) {
        const consistent = await this.createSlot(conn);
        if (this.acked === null || consistent > this.acked) this.acked = consistent;
        return 0n;
      }
      const rows = await conn.query<SlotRow>(
        `SELECT s.plugin, s.slot_type, s.database::text AS database, current_database()::text AS current_db,
                s.temporary, s.wal_status, to_jsonb(s) ->> 'invalidation_reason' AS invalidation_reason,
                s.confirmed_flush_lsn::text AS confirmed_flush_lsn
         FROM pg_replication_slots s WHERE s.slot_name = ${conn.escapeLiteral(slot)}`,
      );
      let row = rows[0];
      if (row && (row.slot_type !== "logical" || row.plugin !== "pgoutput" || row.database !== row.current_db)) {
        throw new ChangeStreamSetupError(
          `change stream: replication slot ${slot} exists but is not a pgoutput slot of database ${row.current_db} ` +
            `(type ${row.slot_type}, plugin ${row.plugin}, database ${row.database})`,
        );
      }
      if (row && (row.wal_status === "lost" || row.invalidation_reason)) {
        this.log.error(
          {
            ...this.ctx,
            walStatus: row.wal_status,
            invalidationReason: row.invalidation_reason,
            confirmedFlushLsn: row.confirmed_flush_lsn,
          },
          "replication slot was invalidated: changes after its confirmed position are lost; dropping and recreating it",
        );
        await conn.query(`DROP_REPLICATION_SLOT ${slot}`);
        row = undefined;
        await this.createSlot(conn);
        this._slotRecreations += 1;
      } else if (!row) {
        await this.createSlot(conn);
        if (this.slotSeen) {
          this._slotRecreations += 1;
          this.log.error(
            { ...this.ctx, lastConfirmedLsn: this.confirmedLsn },
            "replication slot disappeared: recreated it at the current position; changes committed meanwhile were not delivered",
          );
        } else {
          this.log.warn({ ...this.ctx }, "replication slot did not exist; created it at the current position");
        }
      }
      this.slotSeen = true;
      const confirmed = await conn.query<{ lsn: string | null }>(
        `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = ${conn.escapeLiteral(slot)}`,
      );
      const lsn = confirmed[0]?.lsn;
      // Never report a position behind the slot's own (it may have been advanced elsewhere, or
      // the slot recreated): the server resumes at the larger of the two anyway.
      if (lsn && (this.acked === null || parseLsn(lsn) > this.acked)) this.acked = parseLsn(lsn);
      return this.acked ?? 0n;
    } catch (error) {
      if (error instanceof ChangeStreamSetupError || isTransient(error)) throw error;
      // A durable slot that exists with the same name for another purpose, a temporary slot
      // still held by our previous walsender (42710), or a concurrent drop: retry.
      if (sqlState(error) === "42710" || sqlState(error) === "42704") throw error;
      throw new ChangeStreamSetupError(
        `change stream: cannot set up replication slot ${slot}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** CREATE_REPLICATION_SLOT; returns the slot's consistent point. */
  private async createSlot(conn: ReplicationConnection): Promise<bigint> {
    const temporary = this.options.temporary ? " TEMPORARY" : "";
    const rows = await conn.query<{ consistent_point: string }>(
      `CREATE_REPLICATION_SLOT ${this.options.slotName}${temporary} LOGICAL pgoutput (SNAPSHOT 'nothing')`,
    );
    const point = rows[0]?.consistent_point;
    if (!point) throw new Error("CREATE_REPLICATION_SLOT returned no consistent point");
    return parseLsn(point);
  }

  // ---------------------------------------------------------------------------------------------
  // Messages in, status out
  // ---------------------------------------------------------------------------------------------

  private onMessage(session: number, conn: ReplicationConnection, message: CopyBothMessage): void {
    if (session !== this.session || this.conn !== conn) return;
    this.lastMessageAt = Date.now();
    if (message.type === "keepalive") {
      const idle = !this.open && !this.inHandler && this.queue.length === 0;
      // Nothing partly received, queued or being handled: every transaction before walEnd has
      // been acknowledged, so walEnd itself can be confirmed (lets the slot release WAL, and lets
      // a shutting-down server finish).
      if (idle && (this.acked === null || message.walEnd > this.acked)) {
        this.acked = message.walEnd;
        conn.sendStatus(this.acked);
      } else if (message.replyRequested) {
        conn.sendStatus(this.acked ?? 0n);
        if (!idle && this.serverAwaitsConfirmation()) {
          // A shutting-down server (fast shutdown) keeps its walsender until the client confirmed
          // everything sent, pinging in a tight loop. A transaction still in the handler cannot be
          // confirmed, so let go instead of holding up the shutdown; it is redelivered later.
          this.log.warn(
            { ...this.ctx, confirmedLsn: this.confirmedLsn },
            "server is waiting for confirmation (shutting down?) while a transaction is still being handled; disconnecting",
          );
          this.fail(conn, new Error("disconnected so the server can shut down"));
        }
      }
      return;
    }
    try {
      const msg = this.decoder.decode(message.data);
      switch (msg.tag) {
        case "begin":
          this.open = { commitLsn: msg.finalLsn, events: [] };
          break;
        case "insert":
        case "update": {
          if (!this.open) throw new Error(`pgoutput: ${msg.tag} outside a transaction`);
          const event = toChangeEvent(msg.relation, msg.new);
          if (event) this.open.events.push(event);
          break;
        }
        case "commit": {
          if (!this.open) throw new Error("pgoutput: commit outside a transaction");
          const tx: ChangeTransaction = {
            commitLsn: msg.commitLsn,
            endLsn: msg.endLsn,
            commitTime: msg.commitTime,
            events: this.open.events,
          };
          this.open = null;
          this.queue.push({ session, tx, end: parseLsn(msg.endLsn) });
          if (this.queue.length >= this.maxQueued) conn.pause();
          void this.drain();
          break;
        }
        default:
          break; // relation (cached by the decoder), type, origin, delete, truncate, message
      }
    } catch (error) {
      this.log.error({ ...this.ctx, ...errorInfo(error) }, "change stream could not decode a message; reconnecting");
      this.fail(conn, error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** True when reply-requesting keepalives arrive in a burst (normally one per ~15 s at most). */
  private serverAwaitsConfirmation(): boolean {
    const now = Date.now();
    this.pings.push(now);
    while (this.pings.length > 0 && (this.pings[0] ?? now) < now - PING_BURST_WINDOW_MS) this.pings.shift();
    return this.pings.length >= PING_BURST_COUNT;
  }

  /** The single worker: hands queued transactions on one at a time, acknowledging each. */
  private async drain(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      for (;;) {
        const item = this.queue.shift();
        if (!item) break;
        const conn = this.conn;
        if (item.session !== this.session || !conn) continue; // stale: will be redelivered
        if (conn.isPaused && this.queue.length <= this.maxQueued / 2) conn.resume();
        if (item.tx.events.length > 0) {
          this.inHandler = true;
          try {
            await this.options.onTransaction(item.tx);
          } catch (error) {
            if (item.session === this.session && this.conn === conn) {
              this.log.error(
                { ...this.ctx, ...errorInfo(error), commitLsn: item.tx.commitLsn },
                "onTransaction failed; reconnecting to have the transaction redelivered",
              );
              this.fail(conn, error instanceof Error ? error : new Error(String(error)));
            }
            continue;
          } finally {
            this.inHandler = false;
          }
          if (item.session !== this.session || this.conn !== conn) continue; // connection gone: redelivered later
          this._delivered += 1;
        }
        if (this.acked === null || item.end > this.acked) {
          this.acked = item.end;
          conn.sendStatus(this.acked);
        }
      }
    } finally {
      this.working = false;
    }
  }

  private startStatusTimer(conn: ReplicationConnection): void {
    this.stopStatusTimer();
    this.statusTimer = setInterval(() => {
      if (this.conn !== conn) return;
      if (!conn.isPaused && Date.now() - this.lastMessageAt > this.statusIntervalMs * 3) {
        this.log.warn({ ...this.ctx }, "change stream: no message from the server; reconnecting");
        this.fail(conn, new Error("replication connection idle timeout"));
        return;
      }
      // Ask for a reply: the keepalive that answers proves the connection is alive.
      conn.sendStatus(this.acked ?? 0n, true);
    }, this.statusIntervalMs);
    this.statusTimer.unref();
  }

  private stopStatusTimer(): void {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
  }
}
