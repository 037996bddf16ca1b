// Retrying with exponential backoff and jitter.

/** The delay before retry number `attempt` (0-based): minMs doubling up to maxMs, ±20 % jitter. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Waits ms, or less once `signal` aborts (resolves either way, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface RetryOptions {
  minMs: number;
  maxMs: number;
  /** Called before each attempt, outside the retried part: throwing ends retry() with that error. */
  beforeAttempt?(attempt: number): void | Promise<void>;
  /**
   * Called after each failed attempt with the delay about to be waited. Throwing (or rejecting)
   * gives up: retry() rejects with that error. Without it every error is retried.
   */
  onFailure?(error: unknown, attempt: number, delayMs: number): void | Promise<void>;
  /** Stops the wait between attempts early (the next attempt still runs: it should check). */
  signal?: AbortSignal;
}

/** Calls fn(attempt) until it resolves, waiting backoffMs(attempt) after each failure. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    await options.beforeAttempt?.(attempt);
    try {
      return await fn(attempt);
    } catch (error) {
      const delay = backoffMs(attempt, options.minMs, options.maxMs);
      await options.onFailure?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
