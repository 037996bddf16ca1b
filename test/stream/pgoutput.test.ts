// The protocol pieces without a server: LSNs, the pgoutput decoder (including the old-tuple and
// unchanged-TOAST cases the live tests do not reach), CopyBoth framing and status updates.
import { describe, expect, test } from "vitest";
import { alertFromRow } from "../../src/alerts/alerts.js";
import { compareLsn, formatLsn, parseLsn } from "../../src/stream/lsn.js";
import { toChangeEvent } from "../../src/stream/mapping.js";
import { dateToPgTimestamp, PgOutputDecoder, parseTimestamp, parseValue } from "../../src/stream/pgoutput.js";
import { parseCopyBothMessage, standbyStatusUpdate } from "../../src/stream/replication-reader.js";

describe("LSN helpers", () => {
  test("parse, format and compare as 64-bit values", () => {
    expect(parseLsn("0/0")).toBe(0n);
    expect(parseLsn("16/B374D848")).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn("0/0A000000")).toBe(0x0a000000n);
    expect(formatLsn((0x16n << 32n) | 0xb374d848n)).toBe("16/B374D848");
    expect(formatLsn(parseLsn("ffffffff/ffffffff"))).toBe("FFFFFFFF/FFFFFFFF");
    // Lexical order is wrong ('0/A0' > '0/1000'), numeric order is right.
    expect(compareLsn("0/A0", "0/1000")).toBeLessThan(0);
    expect(compareLsn("1/0", "0/FFFFFFFF")).toBeGreaterThan(0);
    expect(compareLsn("2/10", 0x2_0000_0010n)).toBe(0);
    expect(() => parseLsn("12345")).toThrow(/not an LSN/);
    expect(() => parseLsn("1/123456789")).toThrow(/not an LSN/);
  });
});

describe("column values", () => {
  test("text values convert by type OID", () => {
    expect(parseValue(23, "42")).toBe(42);
    expect(parseValue(20, "9007199254740993")).toBe("9007199254740993");
    expect(parseValue(1700, "11.50")).toBe(11.5);
    expect(parseValue(701, "0.1")).toBe(0.1);
    expect(parseValue(16, "t")).toBe(true);
    expect(parseValue(16, "f")).toBe(false);
    expect(parseValue(2950, "1b4e28ba-2fa1-11d2-883f-0016d3cca427")).toBe("1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    expect(parseValue(25, "x")).toBe("x");
  });

  test("timestamps in the ISO DateStyle, any offset", () => {
    expect(parseTimestamp("2026-06-01 12:00:00+00")).toEqual(new Date("2026-06-01T12:00:00Z"));
    expect(parseTimestamp("2026-06-01 12:00:00.123456+00")).toEqual(new Date("2026-06-01T12:00:00.123Z"));
    expect(parseTimestamp("2026-06-01 14:30:00.5+02:30")).toEqual(new Date("2026-06-01T12:00:00.500Z"));
    expect(parseTimestamp("2026-06-01 07:00:00-05")).toEqual(new Date("2026-06-01T12:00:00Z"));
    expect(parseTimestamp("2026-06-01 12:00:00")).toEqual(new Date("2026-06-01T12:00:00Z"));
    expect(parseTimestamp("0099-01-01 00:00:00+00").getUTCFullYear()).toBe(99);
  });
});

// --- a tiny pgoutput writer -------------------------------------------------------------------
const u8 = (v: number) => Buffer.from([v]);
const i16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
};
const i32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const i64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const cstr = (s: string) => Buffer.concat([Buffer.from(s, "utf8"), u8(0)]);
const ch = (c: string) => u8(c.charCodeAt(0));
type Val = string | null | "UNCHANGED";
const tuple = (vals: Val[]) =>
  Buffer.concat([
    i16(vals.length),
    ...vals.map((v) =>
      v === null
        ? ch("n")
        : v === "UNCHANGED"
          ? ch("u")
          : Buffer.concat([ch("t"), i32(Buffer.byteLength(v)), Buffer.from(v)]),
    ),
  ]);

const ALERT_COLUMNS: Array<[string, number]> = [
  ["id", 20],
  ["type", 25],
  ["site_id", 25],
  ["session_id", 25],
  ["status", 25],
  ["raised_at", 1184],
  ["updated_at", 1184],
  ["cleared_at", 1184],
  ["message", 25],
];

function relationMsg(oid: number, name: string, cols: Array<[string, number]>): Buffer {
  return Buffer.concat([
    ch("R"),
    i32(oid),
    cstr("public"),
    cstr(name),
    ch("d"),
    i16(cols.length),
    ...cols.map(([c, type], i) => Buffer.concat([u8(i === 0 ? 1 : 0), cstr(c), i32(type), i32(-1)])),
  ]);
}

describe("pgoutput decoder", () => {
  const t0 = new Date("2026-06-01T12:00:00Z");

  test("Begin and Commit carry LSNs and PostgreSQL-epoch timestamps", () => {
    const d = new PgOutputDecoder();
    const begin = d.decode(Buffer.concat([ch("B"), i64(0x1_0000_0020n), i64(dateToPgTimestamp(t0)), i32(777)]));
    expect(begin).toEqual({ tag: "begin", finalLsn: "1/20", commitTime: t0, xid: 777 });
    const commit = d.decode(
      Buffer.concat([ch("C"), u8(0), i64(0x1_0000_0020n), i64(0x1_0000_0050n), i64(dateToPgTimestamp(t0))]),
    );
    expect(commit).toEqual({ tag: "commit", flags: 0, commitLsn: "1/20", endLsn: "1/50", commitTime: t0 });
  });

  test("Insert, Update with an old tuple and an unchanged TOAST value, Update with a key", () => {
    const d = new PgOutputDecoder();
    d.decode(relationMsg(16400, "alerts", ALERT_COLUMNS));
    const row: Val[] = [
      "7",
      "SITE_OVER_DEMAND",
      "s1",
      null,
      "ACTIVE",
      "2026-06-01 12:00:00+00",
      "2026-06-01 12:00:00+00",
      null,
      "long message",
    ];
    const ins = d.decode(Buffer.concat([ch("I"), i32(16400), ch("N"), tuple(row)]));
    expect(ins.tag).toBe("insert");
    if (ins.tag !== "insert") return;
    // Rows of alerts are not feed events (their log, alert_events, is): a row without a cursor maps to none.
    expect(toChangeEvent(ins.relation, ins.new)).toBeNull();
    expect(alertFromRow({ ...ins.new, alert_id: ins.new.id, cursor: "12" })).toEqual({
      kind: "alert",
      id: "7",
      cursor: "12",
      type: "SITE_OVER_DEMAND",
      siteId: "s1",
      sessionId: null,
      status: "ACTIVE",
      raisedAt: t0,
      updatedAt: t0,
      clearedAt: null,
      message: "long message",
    });

    // REPLICA IDENTITY FULL style: 'O' old tuple, then the new one with message unchanged ('u').
    const cleared: Val[] = [
      "7",
      "SITE_OVER_DEMAND",
      "s1",
      null,
      "CLEARED",
      "2026-06-01 12:00:00+00",
      "2026-06-01 12:00:05+00",
      "2026-06-01 12:00:05+00",
      "UNCHANGED",
    ];
    const upd = d.decode(Buffer.concat([ch("U"), i32(16400), ch("O"), tuple(row), ch("N"), tuple(cleared)]));
    expect(upd.tag).toBe("update");
    if (upd.tag !== "update") return;
    expect(upd.old?.status).toBe("ACTIVE");
    const ev = alertFromRow(upd.new);
    expect(ev).toMatchObject({
      status: "CLEARED",
      message: "long message",
      clearedAt: new Date("2026-06-01T12:00:05Z"),
    });

    // 'K': only the key columns count.
    const keyOnly: Val[] = ["7", null, null, null, null, null, null, null, null];
    const upd2 = d.decode(Buffer.concat([ch("U"), i32(16400), ch("K"), tuple(keyOnly), ch("N"), tuple(cleared)]));
    if (upd2.tag !== "update") throw new Error("expected update");
    expect(upd2.key).toEqual({ id: "7" });
    expect(upd2.new.message).toBeUndefined(); // unchanged TOAST without an old tuple: unknown
  });

  test("Delete, Truncate, Type and Origin are decoded (and ignored by the stream)", () => {
    const d = new PgOutputDecoder();
    d.decode(relationMsg(1, "setpoint_commands", [["seq", 20]]));
    expect(d.decode(Buffer.concat([ch("D"), i32(1), ch("K"), tuple(["5"])])).tag).toBe("delete");
    expect(d.decode(Buffer.concat([ch("T"), i32(1), u8(0), i32(1)]))).toEqual({ tag: "truncate", relationOids: [1] });
    expect(d.decode(Buffer.concat([ch("Y"), i32(90000), cstr("public"), cstr("mood")]))).toEqual({
      tag: "type",
      oid: 90000,
      schema: "public",
      name: "mood",
    });
    expect(d.decode(Buffer.concat([ch("O"), i64(5n), cstr("upstream")]))).toEqual({
      tag: "origin",
      originLsn: "0/5",
      name: "upstream",
    });
  });

  test("a change before its Relation message and unknown messages are errors", () => {
    const d = new PgOutputDecoder();
    expect(() => d.decode(Buffer.concat([ch("I"), i32(99), ch("N"), tuple([])]))).toThrow(/before its Relation/);
    expect(() => d.decode(ch("Z"))).toThrow(/unknown message type/);
  });
});

describe("CopyBoth framing", () => {
  test("XLogData and keepalive", () => {
    const w = parseCopyBothMessage(
      Buffer.concat([ch("w"), i64(10n), i64(20n), i64(dateToPgTimestamp(0)), Buffer.from("B")]),
    );
    expect(w).toMatchObject({ type: "xlog", walStart: 10n, walEnd: 20n, sendTime: new Date(0) });
    if (w?.type === "xlog") expect(w.data.toString()).toBe("B");
    expect(parseCopyBothMessage(Buffer.concat([ch("k"), i64(30n), i64(0n), u8(1)]))).toMatchObject({
      type: "keepalive",
      walEnd: 30n,
      replyRequested: true,
    });
    expect(parseCopyBothMessage(ch("x"))).toBeNull();
  });

  test("a standby status update reports one position as written, flushed and applied", () => {
    const b = standbyStatusUpdate(0x1_0000_0050n, true, Date.UTC(2000, 0, 1, 0, 0, 1));
    expect(b.length).toBe(34);
    expect(String.fromCharCode(b[0]!)).toBe("r");
    expect(b.readBigUInt64BE(1)).toBe(0x1_0000_0050n);
    expect(b.readBigUInt64BE(9)).toBe(0x1_0000_0050n);
    expect(b.readBigUInt64BE(17)).toBe(0x1_0000_0050n);
    expect(b.readBigInt64BE(25)).toBe(1_000_000n);
    expect(b[33]).toBe(1);
  });
});
