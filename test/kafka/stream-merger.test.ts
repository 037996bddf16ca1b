// The merger that puts the partitions' batches of one stream into bounded transactions.
import { describe, expect, test } from "vitest";
import { StreamMerger } from "../../src/kafka/stream-merger.js";

interface P {
  size: number;
  name: string;
}

function recording(options: { fail?: string; delayMs?: number } = {}) {
  const flushes: string[][] = [];
  let running = 0;
  let overlapped = false;
  const flush = async (pieces: P[]) => {
    running += 1;
    if (running > 1) overlapped = true;
    flushes.push(pieces.map((p) => p.name));
    await new Promise((r) => setTimeout(r, options.delayMs ?? 5));
    running -= 1;
    if (options.fail && pieces.some((p) => p.name === options.fail)) throw new Error(`refused ${options.fail}`);
    return pieces.map((p) => `stored ${p.name}`);
  };
  return { flushes, flush, overlapped: () => overlapped };
}

describe("StreamMerger", () => {
  test("pieces handed in together go into one flush; each gets its own result", async () => {
    const r = recording();
    const merger = new StreamMerger<P, string>(r.flush, 100, 5);
    const results = await Promise.all([
      merger.add({ size: 10, name: "p0" }),
      merger.add({ size: 20, name: "p1" }),
      merger.add({ size: 30, name: "p2" }),
    ]);
    expect(results).toEqual(["stored p0", "stored p1", "stored p2"]);
    expect(r.flushes).toEqual([["p0", "p1", "p2"]]);
  });

  test("a flush holds at most maxMessages (one piece at least), in the order handed in, one at a time", async () => {
    const r = recording();
    const merger = new StreamMerger<P, string>(r.flush, 50, 1000);
    const sizes = [30, 30, 10, 60, 5];
    await Promise.all(sizes.map((size, i) => merger.add({ size, name: `p${i}` })));
    expect(r.flushes).toEqual([["p0"], ["p1", "p2"], ["p3"], ["p4"]]);
    expect(r.overlapped()).toBe(false);
  });

  test("a failed flush rejects exactly its pieces; the next flush goes on", async () => {
    const r = recording({ fail: "bad" });
    const merger = new StreamMerger<P, string>(r.flush, 2, 0);
    const outcomes = await Promise.allSettled([
      merger.add({ size: 1, name: "bad" }),
      merger.add({ size: 1, name: "with-bad" }),
      merger.add({ size: 1, name: "later" }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "fulfilled"]);
    expect(r.flushes).toEqual([["bad", "with-bad"], ["later"]]);
  });
});
