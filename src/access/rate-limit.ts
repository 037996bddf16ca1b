// Per-key rate limit: a token bucket per key id, refilled continuously.
export interface RateLimiter {
  /** True when the request may go ahead; false when the key is over its limit. */
  take(keyId: string): boolean;
}

export function createRateLimiter(
  perSecond: number,
  burst = perSecond * 2,
  now = () => performance.now(),
): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(keyId) {
      if (perSecond <= 0) return true;
      const t = now();
      const bucket = buckets.get(keyId) ?? { tokens: burst, at: t };
      bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
      bucket.at = t;
      buckets.set(keyId, bucket);
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
