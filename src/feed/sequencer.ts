// Between the live change stream and the fan-out: hands every feed event on exactly once, in
// cursor (commit) order, whatever happened to the stream.
//
// Cursors are dense: every number the counter hands out belongs to one outbox row or one alert
// event, and both tables are published. So a transaction whose first cursor is not the one after
// the last handed on shows a gap (the stream's temporary slot restarted at the current position
// after a reconnect, or was dropped): the missing events are read from the log (the outbox and
// alert_events) first. After every (re)connect the log is read from the last cursor handed on up
// to the newest, so live subscribers see no gap even when nothing else is written. An event at or
// below the last cursor handed on is a duplicate and is dropped.
import type { Db } from "../db/pool.js";
import type { ChangeEvent } from "../stream/events.js";
import { compareCursors, feedHead, readFeedRange } from "./feed.repository.js";

/** Cursors read from the log per query while filling a gap. */
const FILL_CHUNK = 2000n;
const CATCH_UP_RETRY_MS = 1000;

export interface FeedSequencerLogger {
  warn(o: object, msg?: string): void;
  info(o: object, msg?: string): void;
}

export interface FeedSequencerStats {
  /** Events read from the log because the stream had not delivered them. */
  fromLog: number;
  /** Events the stream delivered twice (dropped). */
  duplicates: number;
  gaps: number;
}

export class FeedSequencer {
  private last: bigint | null = null;
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly stats: FeedSequencerStats = { fromLog: 0, duplicates: 0, gaps: 0 };

  constructor(
    private readonly db: Db,
    private readonly publish: (events: readonly ChangeEvent[]) => void,
    private readonly log: FeedSequencerLogger,
  ) {}

  /** The cursor of the last event handed on (null before the first). */
  get position(): string | null {
    return this.last === null ? null : this.last.toString();
  }

  /** onTransaction of the live stream: rejects only when a gap could not be read from the log. */
  onTransaction(tx: { readonly events: readonly ChangeEvent[] }): Promise<void> {
    return this.enqueue(() => this.accept(tx.events));
  }

  /** The stream is (again) streaming: hand on what was committed while it was not. */
  onStreaming(): void {
    void this.enqueue(() => this.catchUp()).catch((error: unknown) => {
      this.log.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "feed: could not read the log after the stream reconnected; retrying",
      );
      if (this.stopped || this.retryTimer) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.stopped) this.onStreaming();
      }, CATCH_UP_RETRY_MS);
      this.retryTimer.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.chain.then(task);
    this.chain = next.catch(() => {});
    return next;
  }

  private async accept(events: readonly ChangeEvent[]): Promise<void> {
    if (events.length === 0) return;
    const sorted = [...events].sort((a, b) => compareCursors(a.cursor, b.cursor));
    const out: ChangeEvent[] = [];
    for (const event of sorted) {
      const cursor = BigInt(event.cursor);
      if (this.last === null) this.last = cursor - 1n;
      if (cursor <= this.last) {
        this.stats.duplicates += 1;
        continue;
      }
      if (cursor > this.last + 1n) {
        this.stats.gaps += 1;
        // Everything below a committed cursor is committed (or pruned): read it.
        out.push(...(await this.readUpTo(cursor - 1n)));
      }
      out.push(event);
      this.last = cursor;
    }
    if (out.length > 0) this.publish(out);
  }

  private async catchUp(): Promise<void> {
    const head = await feedHead(this.db);
    if (this.last === null) {
      this.last = head;
      return;
    }
    if (head <= this.last) return;
    this.stats.gaps += 1;
    const events = await this.readUpTo(head);
    if (events.length > 0) this.publish(events);
    this.log.info({ events: events.length, position: this.position }, "feed: caught up from the log");
  }

  /** Reads (last, upTo] from the log in chunks and moves `last` to upTo. */
  private async readUpTo(upTo: bigint): Promise<ChangeEvent[]> {
    const events: ChangeEvent[] = [];
    let from = this.last ?? upTo;
    while (from < upTo) {
      const to = from + FILL_CHUNK < upTo ? from + FILL_CHUNK : upTo;
      events.push(...(await readFeedRange(this.db, from, to)));
      from = to;
    }
    this.stats.fromLog += events.length;
    this.last = upTo;
    return events;
  }
}
