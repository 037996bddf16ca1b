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
//
// This file is the connection lifecycle and the acknowledging delivery loop; the publication and
// slot administration is in slot-admin.ts, pgoutput messages become transactions in
// transaction-assembler.ts.
import { coerceError, sqlState } from "../lib/errors.js";
import { backoffMs } from "../lib/retry.js";
import type { ChangeTransaction } from "./events.js";
import { formatLsn, parseLsn } from "./lsn.js";
import { PgOutputDecoder } from "./pgoutput.js";
import { type CopyBothMessage, ReplicationConnection } from "./replication-reader.js";
import {
  type ChangeStreamLogger,
  ChangeStreamSetupError,
  DEFAULT_PUBLICATION,
  ensurePublication,
  ensureSlot,
  isTransient,
} from "./slot-admin.js";
import { TransactionAssembler } from "./transaction-assembler.js";

export type { ChangeEvent, ChangeTransaction } from "./events.js";
export { type ChangeStreamLogger, ChangeStreamSetupError, slotLagBytes } from "./slot-admin.js";

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

/** Periodic status update (with a reply request, doubling as a liveness probe), ms. */
const STATUS_INTERVAL_MS = 10_000;
/** Pause reading from the server when this many transactions wait for onTransaction. */
const MAX_QUEUED_TRANSACTIONS = 1000;
const PING_BURST_COUNT = 10;
const PING_BURST_WINDOW_MS = 1000;

export function createChangeStream(options: ChangeStreamOptions): ChangeStream {
  return new PgChangeStream(options);
}

const consoleLogger: ChangeStreamLogger = {
  info: () => {},
  warn: (o, msg) => console.warn(msg ?? "", o),
  error: (o, msg) => console.error(msg ?? "", o),
};

function errorInfo(error: unknown): object {
  if (error instanceof Error) return { err: { message: error.message, code: sqlState(error), name: error.name } };
  return { err: String(error) };
}

interface QueuedTransaction {
  session: number;
  tx: ChangeTransaction;
  end: bigint;
}

class PgChangeStream implements ChangeStream {
  private readonly publication: string;
  private readonly log: ChangeStreamLogger;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;

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
  private readonly assembler = new TransactionAssembler();
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
    this.assembler.reset();
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
    const delay = backoffMs(this.attempt, this.minBackoffMs, this.maxBackoffMs);
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
      await ensurePublication(conn, this.publication, this.log, this.ctx);
      const startLsn = await this.ensureSlot(conn);
      if (this.stopRequested) throw new Error("stopped");

      const session = ++this.session;
      this.decoder = new PgOutputDecoder();
      this.assembler.reset();
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
    this.assembler.reset();
    this.dropQueued(session);
  }

  private dropQueued(session: number): void {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]?.session === session) this.queue.splice(i, 1);
  }

  // ---------------------------------------------------------------------------------------------
  // Publication and slot
  // ---------------------------------------------------------------------------------------------

  /** Makes sure the slot exists and is usable; returns the LSN to start streaming from. */
  private async ensureSlot(conn: ReplicationConnection): Promise<bigint> {
    const { slotName, temporary } = this.options;
    const slot = await ensureSlot(
      conn,
      { name: slotName, temporary },
      this.slotSeen,
      this.confirmedLsn,
      this.log,
      this.ctx,
    );
    if (slot.recreated) this._slotRecreations += 1;
    // Never report a position behind the slot's own (it may have been advanced elsewhere, or
    // the slot recreated): the server resumes at the larger of the two anyway.
    if (slot.position !== null && (this.acked === null || slot.position > this.acked)) this.acked = slot.position;
    if (temporary) return 0n;
    this.slotSeen = true;
    return this.acked ?? 0n;
  }

  // ---------------------------------------------------------------------------------------------
  // Messages in, status out
  // ---------------------------------------------------------------------------------------------

  private onMessage(session: number, conn: ReplicationConnection, message: CopyBothMessage): void {
    if (session !== this.session || this.conn !== conn) return;
    this.lastMessageAt = Date.now();
    if (message.type === "keepalive") {
      const idle = !this.assembler.inTransaction && !this.inHandler && this.queue.length === 0;
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
      const tx = this.assembler.accept(this.decoder.decode(message.data));
      if (tx) {
        this.queue.push({ session, tx, end: parseLsn(tx.endLsn) });
        if (this.queue.length >= MAX_QUEUED_TRANSACTIONS) conn.pause();
        void this.drain();
      }
    } catch (error) {
      this.log.error({ ...this.ctx, ...errorInfo(error) }, "change stream could not decode a message; reconnecting");
      this.fail(conn, coerceError(error));
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
        if (conn.isPaused && this.queue.length <= MAX_QUEUED_TRANSACTIONS / 2) conn.resume();
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
              this.fail(conn, coerceError(error));
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
      if (!conn.isPaused && Date.now() - this.lastMessageAt > STATUS_INTERVAL_MS * 3) {
        this.log.warn({ ...this.ctx }, "change stream: no message from the server; reconnecting");
        this.fail(conn, new Error("replication connection idle timeout"));
        return;
      }
      // Ask for a reply: the keepalive that answers proves the connection is alive.
      conn.sendStatus(this.acked ?? 0n, true);
    }, STATUS_INTERVAL_MS);
    this.statusTimer.unref();
  }

  private stopStatusTimer(): void {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
  }
}
