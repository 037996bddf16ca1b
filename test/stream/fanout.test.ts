import { expect, test } from "vitest";
import type { ChangeTransaction, SetpointCommandEvent } from "../../src/stream/events.js";
import { Fanout } from "../../src/stream/fanout.js";

function command(siteId: string, n: number): SetpointCommandEvent {
  return {
    kind: "command",
    seq: String(n),
    cursor: String(n),
    commandId: `c-${n}`,
    sessionId: `${siteId}-s`,
    siteId,
    chargePointId: "cp",
    connectorId: 1,
    setpointKw: n,
    previousKw: null,
    limitedBy: "SITE_LIMIT",
    ratedPowerKw: 22,
    currentPowerKw: null,
    socPct: null,
    priceTier: "OFF_PEAK",
    curtailmentPct: 0,
    commandTs: new Date(0),
    ocppVersion: "V16",
    ocppRequest: null,
    createdAt: new Date(0),
  };
}

function tx(events: SetpointCommandEvent[]): ChangeTransaction {
  return { commitLsn: "0/1", endLsn: "0/2", commitTime: new Date(0), events } as ChangeTransaction;
}

test("events reach only the subscribers of their site, or of every allowed site", async () => {
  const fanout = new Fanout();
  const a = fanout.subscribe("command", { siteId: "a", allowedSites: null });
  const any = fanout.subscribe("command", { siteId: null, allowedSites: new Set(["b"]) });
  const alerts = fanout.subscribe("alert", { siteId: "a", allowedSites: null });
  fanout.publish(tx([command("a", 1), command("b", 2), command("c", 3)]));
  expect((await a.next()).value?.setpointKw).toBe(1);
  expect((await any.next()).value?.setpointKw).toBe(2);
  await a.return?.();
  await any.return?.();
  await alerts.return?.();
  expect(fanout.stats.subscribers).toBe(0);
});

test("a subscriber that falls behind its buffer is closed with a reason; the others go on", async () => {
  const fanout = new Fanout(5);
  const slow = fanout.subscribe("command", { siteId: "a", allowedSites: null });
  const fast = fanout.subscribe("command", { siteId: "a", allowedSites: null });
  const seen: number[] = [];
  for (let n = 1; n <= 8; n++) {
    fanout.publish(tx([command("a", n)]));
    seen.push((await fast.next()).value?.setpointKw ?? -1);
  }
  expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  await expect(slow.next()).rejects.toThrow(/fell more than 5 events behind/);
  expect(fanout.stats.closedTooSlow).toBe(1);
  expect(fanout.stats.subscribers).toBe(1);
  await fast.return?.();
});

test("closeAll ends waiting subscribers", async () => {
  const fanout = new Fanout();
  const sub = fanout.subscribe("alert", { siteId: null, allowedSites: null });
  const pending = sub.next();
  fanout.closeAll();
  expect(await pending).toEqual({ value: undefined, done: true });
});
