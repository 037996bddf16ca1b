// Live fan-out of change events to subscribers in this process, filtered per site in memory.
// Each subscriber has a bounded buffer: one that cannot keep up is closed with a reason instead
// of growing memory or slowing the others.
import type { AlertEvent, ChangeEvent, SetpointCommandEvent } from "./events.js";

/** Ends a subscriber that fell behind; the API shows it with the code SUBSCRIBER_TOO_SLOW. */
export class SubscriberTooSlowError extends Error {
  constructor(readonly limit: number) {
    super(`subscriber closed: it fell more than ${limit} events behind; resubscribe and re-read current state`);
    this.name = "SubscriberTooSlowError";
  }
}

interface EventMap {
  command: SetpointCommandEvent;
  alert: AlertEvent;
}
type Kind = keyof EventMap;

interface Subscriber<K extends Kind = Kind> {
  readonly kind: K;
  push(event: EventMap[K]): void;
  close(): void;
  /** null: every site (within `allowedSites`, when set). */
  readonly siteId: string | null;
  readonly allowedSites: ReadonlySet<string> | null;
}

export interface FanoutStats {
  subscribers: number;
  closedTooSlow: number;
  delivered: number;
}

export class Fanout {
  private readonly bySite = new Map<string, Set<Subscriber>>();
  private readonly anySite = new Set<Subscriber>();
  readonly stats: FanoutStats = { subscribers: 0, closedTooSlow: 0, delivered: 0 };

  /** Above the largest single transaction a healthy subscriber sees (a site's whole recompute). */
  constructor(private readonly bufferLimit = 10_000) {}

  private readonly listeners = new Set<(events: readonly ChangeEvent[]) => void>();

  /** Called after each publish with its events (the Kafka command publisher wakes up on it). */
  onPublish(listener: (events: readonly ChangeEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Hands on events in cursor order (src/feed/sequencer.ts, or a transaction in tests). */
  publish(tx: { readonly events: readonly ChangeEvent[] }): void {
    for (const listener of this.listeners) listener(tx.events);
    for (const event of tx.events) {
      const targets = this.bySite.get(event.siteId);
      if (targets) for (const sub of targets) this.deliver(sub, event);
      for (const sub of this.anySite) {
        if (!sub.allowedSites || sub.allowedSites.has(event.siteId)) this.deliver(sub, event);
      }
    }
  }

  private deliver(sub: Subscriber, event: SetpointCommandEvent | AlertEvent): void {
    if (sub.kind !== event.kind) return;
    (sub as Subscriber<typeof event.kind>).push(event as never);
    this.stats.delivered += 1;
  }

  /** An async iterator of one kind of event for one site (or all allowed sites). */
  subscribe<K extends Kind>(
    kind: K,
    options: { siteId: string | null; allowedSites: ReadonlySet<string> | null; signal?: AbortSignal },
  ): AsyncIterableIterator<EventMap[K]> {
    const queue: EventMap[K][] = [];
    let waiting: ((result: IteratorResult<EventMap[K]>) => void) | null = null;
    let failing: ((error: unknown) => void) | null = null;
    let failure: Error | null = null;
    let done = false;

    const subscriber: Subscriber<K> = {
      kind,
      close: () => finish(),
      siteId: options.siteId,
      allowedSites: options.allowedSites,
      push: (event) => {
        if (done) return;
        if (waiting) {
          const resolve = waiting;
          waiting = null;
          failing = null;
          resolve({ value: event, done: false });
          return;
        }
        if (queue.length >= this.bufferLimit) {
          failure = new SubscriberTooSlowError(this.bufferLimit);
          this.stats.closedTooSlow += 1;
          finish();
          return;
        }
        queue.push(event);
      },
    };
    const set = options.siteId === null ? this.anySite : this.siteSet(options.siteId);
    set.add(subscriber as Subscriber);
    this.stats.subscribers += 1;

    const finish = () => {
      if (done) return;
      done = true;
      set.delete(subscriber as Subscriber);
      if (options.siteId !== null && set.size === 0) this.bySite.delete(options.siteId);
      this.stats.subscribers -= 1;
      queue.length = failure ? 0 : queue.length;
      if (waiting) {
        const resolve = waiting;
        const reject = failing;
        waiting = null;
        failing = null;
        if (failure && reject) reject(failure);
        else resolve({ value: undefined, done: true });
      }
    };
    options.signal?.addEventListener("abort", finish, { once: true });

    const iterator: AsyncIterableIterator<EventMap[K]> = {
      next: () => {
        const event = queue.shift();
        if (event !== undefined) return Promise.resolve({ value: event, done: false });
        if (failure) return Promise.reject(failure);
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          waiting = resolve;
          failing = reject;
        });
      },
      return: () => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      throw: (error) => {
        finish();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  private siteSet(siteId: string): Set<Subscriber> {
    let set = this.bySite.get(siteId);
    if (!set) {
      set = new Set();
      this.bySite.set(siteId, set);
    }
    return set;
  }

  /** Ends every subscription (server stop). */
  closeAll(): void {
    for (const set of [...this.bySite.values(), this.anySite]) {
      for (const sub of [...set]) sub.close();
    }
  }
}
