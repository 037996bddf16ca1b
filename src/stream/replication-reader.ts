// One logical replication connection on the streaming replication protocol, on top of `pg`:
// a Client started with replication=database, simple-protocol commands (the only ones a
// walsender accepts), START_REPLICATION into CopyBoth mode, XLogData ('w') and primary
// keepalive ('k') messages in, Standby Status Updates ('r') out.
// https://www.postgresql.org/docs/current/protocol-replication.html

import type { Duplex } from "node:stream";
import pg from "pg";
import { coerceError } from "../lib/errors.js";
import { withTimeout } from "../lib/timeout.js";
import { formatLsn } from "./lsn.js";
import { dateToPgTimestamp, pgTimestampToDate } from "./pgoutput.js";

export type CopyBothMessage =
  | { type: "xlog"; walStart: bigint; walEnd: bigint; sendTime: Date; data: Buffer }
  | { type: "keepalive"; walEnd: bigint; sendTime: Date; replyRequested: boolean };

/** The parts of pg's internal Connection used here (not in @types/pg). */
interface WireConnection {
  on(event: "copyData", listener: (msg: { chunk: Buffer }) => void): void;
  once(event: "replicationStart", listener: () => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  readonly stream: Duplex;
}

export interface ReplicationConnectionOptions {
  connectionString: string;
  applicationName?: string;
}

const CONNECT_TIMEOUT_MS = 10_000;

export function parseCopyBothMessage(chunk: Buffer): CopyBothMessage | null {
  switch (chunk[0]) {
    case 0x77: // 'w'
      return {
        type: "xlog",
        walStart: chunk.readBigUInt64BE(1),
        walEnd: chunk.readBigUInt64BE(9),
        sendTime: pgTimestampToDate(chunk.readBigInt64BE(17)),
        data: chunk.subarray(25),
      };
    case 0x6b: // 'k'
      return {
        type: "keepalive",
        walEnd: chunk.readBigUInt64BE(1),
        sendTime: pgTimestampToDate(chunk.readBigInt64BE(9)),
        replyRequested: chunk[17] === 1,
      };
    default:
      return null;
  }
}

/** Standby Status Update: written, flushed and applied all set to `lsn`. */
export function standbyStatusUpdate(lsn: bigint, replyRequested: boolean, now = Date.now()): Buffer {
  const buf = Buffer.alloc(34);
  buf[0] = 0x72; // 'r'
  buf.writeBigUInt64BE(lsn, 1); // written
  buf.writeBigUInt64BE(lsn, 9); // flushed: what the slot's confirmed_flush_lsn follows
  buf.writeBigUInt64BE(lsn, 17); // applied
  buf.writeBigInt64BE(dateToPgTimestamp(now), 25);
  buf[33] = replyRequested ? 1 : 0;
  return buf;
}

export class ReplicationConnection {
  private readonly client: pg.Client;
  private readonly wire: WireConnection;
  private ended = false;
  private connected = false;
  private destroyRequested = false;
  private lastError: Error | null = null;
  private readonly endListeners: Array<(error: Error | null) => void> = [];
  private streamQuery: Promise<unknown> | null = null;
  private paused = false;

  /** A connection not yet open: call connect(). destroy() may be called at any time. */
  constructor(options: ReplicationConnectionOptions) {
    const config = {
      connectionString: options.connectionString,
      replication: "database",
      application_name: options.applicationName ?? "scc-change-stream",
      // Text output of timestamptz in a fixed, parseable form.
      options: "-c DateStyle=ISO -c TimeZone=UTC",
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    } as pg.ClientConfig;
    const client = new pg.Client(config);
    this.client = client;
    this.wire = (client as unknown as { connection: WireConnection }).connection;
    client.on("error", (error) => {
      this.lastError ??= error;
    });
    client.on("end", () => this.markEnded());
  }

  async connect(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      this.markEnded();
      throw error;
    }
    this.connected = true;
    if (this.destroyRequested) {
      this.wire.stream.destroy();
      throw this.lastError ?? new Error("replication connection closed while connecting");
    }
  }

  private markEnded(): void {
    if (this.ended) return;
    this.ended = true;
    for (const listener of this.endListeners.splice(0)) listener(this.lastError);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Called once when the connection ends, with the error that ended it (null: a clean end). */
  onEnd(listener: (error: Error | null) => void): void {
    if (this.ended) queueMicrotask(() => listener(this.lastError));
    else this.endListeners.push(listener);
  }

  /** A command in the simple query protocol (SQL or a replication command); no parameters. */
  async query<R extends Record<string, unknown>>(text: string): Promise<R[]> {
    const result = (await this.client.query(text)) as unknown as pg.QueryResult<R>;
    return result.rows;
  }

  escapeLiteral(value: string): string {
    return this.client.escapeLiteral(value);
  }

  /**
   * START_REPLICATION ... LOGICAL: resolves once the server switched to CopyBoth mode; from then
   * on every CopyData message goes to `onMessage` (synchronously, in order).
   */
  async startLogical(
    slotName: string,
    startLsn: bigint,
    pluginOptions: Record<string, string>,
    onMessage: (message: CopyBothMessage) => void,
  ): Promise<void> {
    const opts = Object.entries(pluginOptions)
      .map(([k, v]) => `"${k}" ${this.client.escapeLiteral(v)}`)
      .join(", ");
    const sql = `START_REPLICATION SLOT ${slotName} LOGICAL ${formatLsn(startLsn)} (${opts})`;
    const onCopyData = (msg: { chunk: Buffer }) => {
      const parsed = parseCopyBothMessage(msg.chunk);
      if (parsed) onMessage(parsed);
    };
    this.wire.on("copyData", onCopyData);
    await new Promise<void>((resolve, reject) => {
      this.wire.once("replicationStart", () => resolve());
      const query = this.client.query(sql);
      this.streamQuery = query.then(
        () => undefined,
        (error: unknown) => error,
      );
      query.then(
        () => reject(new Error("START_REPLICATION ended before streaming started")),
        (error: unknown) => reject(coerceError(error)),
      );
    });
  }

  /**
   * Settles when the START_REPLICATION command ends while the connection stays open: the server
   * left CopyBoth mode after an error (null: after our CopyDone).
   */
  get streamEnded(): Promise<Error | null> {
    if (!this.streamQuery) return Promise.resolve(null);
    return this.streamQuery.then((result) => (result instanceof Error ? result : null));
  }

  sendStatus(flushLsn: bigint, replyRequested = false): void {
    if (this.ended || !this.wire.stream.writable) return;
    this.wire.sendCopyFromChunk(standbyStatusUpdate(flushLsn, replyRequested));
  }

  /** Backpressure: stop reading from the socket (the server blocks once its buffer is full). */
  pause(): void {
    if (this.paused || this.ended) return;
    this.paused = true;
    this.wire.stream.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.wire.stream.resume();
  }

  /**
   * Clean shutdown: CopyDone, wait for the server to finish the command (so everything sent
   * before, in particular the last status update, has been processed), then Terminate. Falls
   * back to destroying the socket after `timeoutMs`.
   */
  async close(timeoutMs = 3000): Promise<void> {
    if (this.ended) return;
    const ended = new Promise<void>((resolve) => this.onEnd(() => resolve()));
    this.resume();
    if (this.streamQuery) {
      try {
        this.wire.endCopyFrom();
      } catch {
        // socket already gone
      }
      // Never rejects (errors are its value); a timeout just moves on to Terminate.
      await withTimeout(this.streamQuery, timeoutMs, "the end of START_REPLICATION").catch(() => {});
    }
    void this.client.end().catch(() => {});
    // `ended` never rejects: only the timeout does.
    await withTimeout(ended, timeoutMs, "closing the replication connection").catch(() => this.destroy());
  }

  /** Drops the connection at once (the server sees the socket close). */
  destroy(reason?: Error): void {
    if (reason) this.lastError ??= reason;
    if (this.ended) return;
    this.paused = false;
    if (!this.connected) {
      this.destroyRequested = true; // connect() finishes the job (bounded by its timeout)
      return;
    }
    this.wire.stream.destroy();
  }
}
