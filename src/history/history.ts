// siteHistory's arguments, checked before any SQL: one rule for GraphQL and any other caller.
import { type Issue, parseTimestamp } from "../ingest/validate.js";

/** The smallest bucket: finer than the page needs, coarse enough to bound the work. */
export const MIN_BUCKET_SECONDS = 10;
/** The largest bucket: a week. */
export const MAX_BUCKET_SECONDS = 7 * 86_400;
/** Buckets in one answer: (to - from) / bucketSeconds, rounded up, at most this. */
export const MAX_HISTORY_BUCKETS = 2_000;

export interface HistoryRange {
  readonly from: Date;
  readonly to: Date;
  readonly bucketSeconds: number;
  readonly buckets: number;
}

export type CheckedRange = { ok: true; value: HistoryRange } | { ok: false; issues: Issue[] };

export function checkHistoryRange(raw: { from: string; to: string; bucketSeconds: number }): CheckedRange {
  const issues: Issue[] = [];
  const from = parseTimestamp(raw.from);
  const to = parseTimestamp(raw.to);
  if (!from) issues.push({ field: "from", message: "must be an ISO-8601 timestamp with an offset" });
  if (!to) issues.push({ field: "to", message: "must be an ISO-8601 timestamp with an offset" });
  const b = raw.bucketSeconds;
  if (!Number.isInteger(b) || b < MIN_BUCKET_SECONDS || b > MAX_BUCKET_SECONDS)
    issues.push({
      field: "bucketSeconds",
      message: `must be an integer from ${MIN_BUCKET_SECONDS} to ${MAX_BUCKET_SECONDS}, got ${b}`,
    });
  if (from && to && to.getTime() <= from.getTime()) issues.push({ field: "to", message: "must be later than from" });
  if (issues.length > 0) return { ok: false, issues };
  const span = (to as Date).getTime() - (from as Date).getTime();
  const buckets = Math.ceil(span / (b * 1000));
  if (buckets > MAX_HISTORY_BUCKETS)
    return {
      ok: false,
      issues: [
        {
          field: "bucketSeconds",
          message: `gives ${buckets} buckets from ${raw.from} to ${raw.to}; at most ${MAX_HISTORY_BUCKETS} (use larger buckets or a shorter range)`,
        },
      ],
    };
  return { ok: true, value: { from: from as Date, to: to as Date, bucketSeconds: b, buckets } };
}
