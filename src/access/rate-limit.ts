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

/**
 * Failed authentications per client address: a bucket of `perMinute`, refilled continuously. Every
 * key lookup reserves one failure first (so concurrent lookups cannot overshoot the budget) and
 * gives it back when the key was good.
 */
export interface FailureLimiter {
  /** Reserves one failure for a lookup: 0, or the seconds to wait when the address has none left. */
  reserve(address: string): number;
  /** The key was good: gives the reserved failure back. */
  refund(address: string): void;
}

/** At most this many addresses are remembered (the oldest go first), so a spray of addresses stays bounded. */
const MAX_ADDRESSES = 10_000;

export function createFailureLimiter(perMinute: number, now = () => performance.now()): FailureLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = perMinute / 60_000;
  const refill = (address: string): { tokens: number; at: number } => {
    const t = now();
    const bucket = buckets.get(address) ?? { tokens: perMinute, at: t };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (t - bucket.at) * perMs);
    bucket.at = t;
    return bucket;
  };
  return {
    reserve(address) {
      if (perMinute <= 0) return 0;
      const bucket = refill(address);
      if (bucket.tokens < 1) return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
      bucket.tokens -= 1;
      buckets.delete(address);
      buckets.set(address, bucket);
      if (buckets.size > MAX_ADDRESSES) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
      }
      return 0;
    },
    refund(address) {
      if (perMinute <= 0) return;
      const bucket = buckets.get(address);
      if (!bucket) return;
      bucket.tokens += 1;
      // A full bucket is the same as none: forget the address.
      if (refill(address).tokens >= perMinute) buckets.delete(address);
    },
  };
}
