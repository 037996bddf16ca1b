// Timing, percentiles and number formatting.
import { performance } from "node:perf_hooks";

export const now = (): number => performance.now();

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // nearest rank
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: n ? Math.max(...values) : Number.NaN,
  };
}

export function fmtNum(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (Math.abs(ms) >= 100) return `${fmtNum(ms, 0)} ms`;
  if (Math.abs(ms) >= 10) return `${fmtNum(ms, 1)} ms`;
  return `${fmtNum(ms, 2)} ms`;
}

export function fmtUs(ms: number): string {
  return Number.isFinite(ms) ? `${fmtNum(ms * 1000, 0)} µs` : "n/a";
}

export function fmtMb(bytes: number | null | undefined): string {
  return bytes == null || !Number.isFinite(bytes) ? "n/a" : `${fmtNum(bytes / 1048576, 0)} MB`;
}

export function fmtRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${fmtNum(ratio, ratio >= 10 ? 0 : 1)}x` : "n/a";
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
