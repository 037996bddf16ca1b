// Polling until a condition holds: the one copy for test/, bench/ and sim/ (no vitest imports).

export interface UntilOptions {
  /** Give up after this long (ms). Default 10 000. */
  timeoutMs?: number;
  /** Poll this often (ms). Default 25. */
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/**
 * Calls `condition` until it returns a truthy value (or a promise of one) and returns that value.
 * A condition that throws counts as not yet; on timeout the error names `what` and the last
 * error thrown.
 */
export async function until<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 25, what = "condition" }: UntilOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const last =
        lastError === undefined ? "" : ` (last error: ${(lastError as Error)?.message ?? String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
