// A resumable subscription (docs/feed.md): every event after a cursor, first from the log (the
// outbox or the alert event log), then live from the fan-out, with no gap and no duplicate at the
// seam, in cursor (commit) order.
//
// The live subscription is opened BEFORE the log is read: an event committed after the read is
// in its buffer, one committed before is in the read (and is skipped live, by cursor). A
// subscriber whose live buffer overflows (it reads slower than the feed is written) is not
// closed: it goes back to the log from its last cursor and joins live again later.
import type { Db } from "../db/pool.js";
import type { AlertEvent, SetpointCommandEvent } from "../stream/events.js";
import { type Fanout, SubscriberTooSlowError } from "../stream/fanout.js";
import { type FeedFilter, readAlertEvents, readCommands } from "./feed.repository.js";

interface EventMap {
  command: SetpointCommandEvent;
  alert: AlertEvent;
}

export interface ResumeOptions {
  /** null: live only (what is committed from now on). */
  after: bigint | null;
  siteId: string | null;
  allowedSites: ReadonlySet<string> | null;
}

/** Events read from the log per query. */
export const REPLAY_PAGE = 500;

export function resumableSubscription<K extends keyof EventMap>(
  kind: K,
  fanout: Fanout,
  db: Db,
  options: ResumeOptions,
): AsyncIterableIterator<EventMap[K]> {
  const live = { current: null as AsyncIterableIterator<EventMap[K]> | null, closed: false };
  const subscribeLive = () => {
    const iterator = fanout.subscribe(kind, { siteId: options.siteId, allowedSites: options.allowedSites });
    live.current = iterator;
    return iterator;
  };
  if (options.after === null) return subscribeLive();
  const filter: FeedFilter = {
    siteIds: options.siteId !== null ? [options.siteId] : options.allowedSites ? [...options.allowedSites] : null,
  };
  const read = (kind === "command" ? readCommands : readAlertEvents) as (
    db: Db,
    after: bigint,
    filter: FeedFilter,
    limit: number,
  ) => Promise<EventMap[K][]>;
  let last = options.after;

  async function* run(): AsyncGenerator<EventMap[K], void, undefined> {
    while (!live.closed) {
      const iterator = subscribeLive();
      try {
        for (;;) {
          const page = await read(db, last, filter, REPLAY_PAGE);
          for (const event of page) {
            last = BigInt(event.cursor);
            yield event;
          }
          if (page.length < REPLAY_PAGE || live.closed) break;
        }
        for (;;) {
          const result = await iterator.next();
          if (result.done) return;
          const cursor = BigInt(result.value.cursor);
          if (cursor <= last) continue;
          last = cursor;
          yield result.value;
        }
      } catch (error) {
        if (!(error instanceof SubscriberTooSlowError)) throw error;
        // Fell behind the live feed: go on from the log.
      } finally {
        await iterator.return?.();
      }
    }
  }

  const generator = run();
  const outer: AsyncIterableIterator<EventMap[K]> = {
    next: () => generator.next(),
    // Ends a live wait at once (an async generator would only see return() at its next yield).
    return: async () => {
      live.closed = true;
      await live.current?.return?.();
      return generator.return(undefined);
    },
    [Symbol.asyncIterator]() {
      return outer;
    },
  };
  return outer;
}
