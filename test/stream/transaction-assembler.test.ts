// The transaction assembler without a server: decoded pgoutput messages in, committed
// transactions of typed change events out.
import { describe, expect, test } from "vitest";
import type { PgOutputMessage, Relation } from "../../src/stream/pgoutput.js";
import { TransactionAssembler } from "../../src/stream/transaction-assembler.js";

const relation = (oid: number, name: string): Relation => ({
  oid,
  schema: "public",
  name,
  replicaIdentity: "d",
  columns: [],
});
const COMMANDS = relation(1, "setpoint_commands");
const ALERTS = relation(2, "alert_events");
const DEMAND = relation(3, "site_demand_raw");

const T = new Date("2026-06-01T12:00:00Z");
const begin = (finalLsn: string): PgOutputMessage => ({ tag: "begin", finalLsn, commitTime: T, xid: 7 });
const commit = (commitLsn: string, endLsn: string): PgOutputMessage => ({
  tag: "commit",
  flags: 0,
  commitLsn,
  endLsn,
  commitTime: T,
});
const command = (seq: string): PgOutputMessage => ({
  tag: "insert",
  relation: COMMANDS,
  new: {
    seq,
    cursor: seq,
    command_id: `cmd-${seq}`,
    session_id: "s1",
    site_id: "site-a",
    charge_point_id: "cp-1",
    connector_id: 1,
    setpoint_kw: 7.5,
    previous_kw: null,
    limited_by: "SITE_CAP",
    rated_power_kw: 11,
    current_power_kw: 3,
    soc_pct: null,
    price_tier: "STANDARD",
    curtailment_pct: 0,
    command_ts: T,
  },
});
const alertUpdate = (id: string, status: string): PgOutputMessage => ({
  tag: "update",
  relation: ALERTS,
  key: null,
  old: null,
  new: {
    alert_id: id,
    cursor: `9${id}`,
    type: "SITE_OVER_LIMIT",
    site_id: "site-a",
    session_id: null,
    status,
    raised_at: T,
    updated_at: T,
    cleared_at: null,
    message: "over",
  },
});

function feed(assembler: TransactionAssembler, messages: PgOutputMessage[]) {
  return messages.map((m) => assembler.accept(m)).filter((tx) => tx !== null);
}

describe("transaction assembler", () => {
  test("begin, inserts and commit make one transaction with the commit's LSNs and time", () => {
    const a = new TransactionAssembler();
    expect(a.inTransaction).toBe(false);
    expect(a.accept(begin("0/1000"))).toBeNull();
    expect(a.inTransaction).toBe(true);
    expect(a.accept(command("1"))).toBeNull();
    expect(a.accept(command("2"))).toBeNull();
    const tx = a.accept(commit("0/1000", "0/1030"));
    expect(a.inTransaction).toBe(false);
    expect(tx).toMatchObject({ commitLsn: "0/1000", endLsn: "0/1030", commitTime: T });
    expect(tx?.events.map((e) => e.kind === "command" && e.commandId)).toEqual(["cmd-1", "cmd-2"]);
    expect(tx?.events[0]).toMatchObject({ kind: "command", seq: "1", setpointKw: 7.5, previousKw: null });
  });

  test("relation, type and origin messages between changes are ignored; updates map too", () => {
    const a = new TransactionAssembler();
    const txs = feed(a, [
      { tag: "relation", relation: COMMANDS },
      begin("0/2000"),
      { tag: "origin", originLsn: "0/1", name: "elsewhere" },
      command("3"),
      { tag: "relation", relation: ALERTS },
      { tag: "type", oid: 99, schema: "public", name: "tier" },
      alertUpdate("10", "CLEARED"),
      { tag: "relation", relation: COMMANDS },
      command("4"),
      commit("0/2000", "0/2040"),
    ]);
    expect(txs).toHaveLength(1);
    expect(txs[0]?.events.map((e) => e.kind)).toEqual(["command", "alert", "command"]);
    expect(txs[0]?.events[1]).toMatchObject({ kind: "alert", id: "10", status: "CLEARED" });
  });

  test("a transaction with no mapped rows is still yielded, with no events (its end LSN can be acknowledged)", () => {
    const a = new TransactionAssembler();
    const txs = feed(a, [
      begin("0/3000"),
      { tag: "insert", relation: DEMAND, new: { site_id: "site-a" } },
      { tag: "delete", relation: COMMANDS },
      { tag: "truncate", relationOids: [2] },
      { tag: "message", prefix: "app" },
      commit("0/3000", "0/3020"),
    ]);
    expect(txs).toEqual([{ commitLsn: "0/3000", endLsn: "0/3020", commitTime: T, events: [] }]);
  });

  test("consecutive transactions are yielded separately, in order", () => {
    const a = new TransactionAssembler();
    const txs = feed(a, [
      begin("0/1"),
      command("1"),
      commit("0/1", "0/2"),
      begin("0/3"),
      command("2"),
      commit("0/3", "0/4"),
    ]);
    expect(txs.map((tx) => [tx.endLsn, tx.events.length])).toEqual([
      ["0/2", 1],
      ["0/4", 1],
    ]);
  });

  test("a change or a commit outside a transaction is an error", () => {
    const a = new TransactionAssembler();
    expect(() => a.accept(command("1"))).toThrow(/insert outside a transaction/);
    expect(() => a.accept(alertUpdate("1", "ACTIVE"))).toThrow(/update outside a transaction/);
    expect(() => a.accept(commit("0/1", "0/2"))).toThrow(/commit outside a transaction/);
    // A commit closes the transaction: a second one is out of step.
    feed(a, [begin("0/5"), commit("0/5", "0/6")]);
    expect(() => a.accept(commit("0/5", "0/6"))).toThrow(/commit outside a transaction/);
  });

  test("a Begin inside a transaction discards the partial one; reset() forgets it", () => {
    const a = new TransactionAssembler();
    const txs = feed(a, [begin("0/1"), command("1"), begin("0/7"), command("2"), commit("0/7", "0/8")]);
    expect(txs).toHaveLength(1);
    expect(txs[0]?.events.map((e) => e.kind === "command" && e.seq)).toEqual(["2"]);

    feed(a, [begin("0/9"), command("3")]);
    a.reset();
    expect(a.inTransaction).toBe(false);
    expect(() => a.accept(commit("0/9", "0/10"))).toThrow(/outside a transaction/);
  });
});
