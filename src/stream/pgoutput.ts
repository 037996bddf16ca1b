// Decoder for the pgoutput logical replication output plugin, protocol version 1, text format.
// https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
import { formatLsn } from "./lsn.js";

export interface RelationColumn {
  /** Bit 1: part of the replica identity key. */
  readonly flags: number;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

export interface Relation {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** 'd' default, 'n' nothing, 'f' full, 'i' index. */
  readonly replicaIdentity: string;
  readonly columns: readonly RelationColumn[];
}

/** Column name -> converted value. `undefined`: an unchanged TOASTed value that was not sent. */
export type Tuple = Record<string, unknown>;

export type PgOutputMessage =
  | { tag: "begin"; finalLsn: string; commitTime: Date; xid: number }
  | { tag: "commit"; flags: number; commitLsn: string; endLsn: string; commitTime: Date }
  | { tag: "origin"; originLsn: string; name: string }
  | { tag: "relation"; relation: Relation }
  | { tag: "type"; oid: number; schema: string; name: string }
  | { tag: "insert"; relation: Relation; new: Tuple }
  | { tag: "update"; relation: Relation; key: Tuple | null; old: Tuple | null; new: Tuple }
  | { tag: "delete"; relation: Relation }
  | { tag: "truncate"; relationOids: number[] }
  | { tag: "message"; prefix: string };

// Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01T00:00:00Z).
const PG_EPOCH_MS = 946_684_800_000n;

export function pgTimestampToDate(microsSincePgEpoch: bigint): Date {
  return new Date(Number(microsSincePgEpoch / 1000n + PG_EPOCH_MS));
}

export function dateToPgTimestamp(date: Date | number): bigint {
  const ms = typeof date === "number" ? date : date.getTime();
  return (BigInt(Math.trunc(ms)) - PG_EPOCH_MS) * 1000n;
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  u8(): number {
    const v = this.buf.readUInt8(this.pos);
    this.pos += 1;
    return v;
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  lsn(): string {
    return formatLsn(this.u64());
  }
  time(): Date {
    return pgTimestampToDate(this.i64());
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new Error("pgoutput: unterminated string");
    const s = this.buf.toString("utf8", this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error("pgoutput: message truncated");
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

// Type OIDs (pg_type.oid of the built-in types).
const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  float4: 700,
  float8: 701,
  numeric: 1700,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

const TS_RE =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?|Z)?( BC)?$/;

/**
 * Parses timestamp[tz] text output in the ISO DateStyle ('2026-06-01 12:00:00.123456+00').
 * A value without an offset (timestamp without time zone) is read as UTC. Microseconds beyond the
 * millisecond are dropped (Date precision).
 */
export function parseTimestamp(text: string): Date {
  if (text === "infinity") return new Date(8.64e15);
  if (text === "-infinity") return new Date(-8.64e15);
  const m = TS_RE.exec(text);
  if (!m) return new Date(text);
  let year = Number(m[1]);
  if (m[12]) year = 1 - year;
  const ms = m[7] ? Number(`${m[7]}00`.slice(0, 3)) : 0;
  const d = new Date(0);
  d.setUTCFullYear(year, Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), ms);
  if (m[8]) {
    const offsetS = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
    const sign = m[8] === "-" ? -1 : 1;
    return new Date(d.getTime() - sign * offsetS * 1000);
  }
  return d;
}

/** Converts a text-format column value by its type OID; unknown types stay text. */
export function parseValue(typeOid: number, text: string): unknown {
  switch (typeOid) {
    case OID.bool:
      return text === "t";
    case OID.int2:
    case OID.int4:
    case OID.oid:
      return Number.parseInt(text, 10);
    case OID.int8:
      return text; // may exceed Number.MAX_SAFE_INTEGER
    case OID.float4:
    case OID.float8:
    case OID.numeric:
      return Number(text); // 'NaN', 'Infinity', '-Infinity' map to their JS values
    case OID.timestamp:
    case OID.timestamptz:
      return parseTimestamp(text);
    default:
      return text; // text, varchar, uuid, date, json, ...
  }
}

/**
 * Stateful decoder for one replication connection: Relation messages are sent once per
 * connection (and after a schema change) before the first change of that table, and later
 * changes refer to them by OID. Use a new decoder for each connection.
 */
export class PgOutputDecoder {
  private readonly relations = new Map<number, Relation>();

  decode(buf: Buffer): PgOutputMessage {
    const r = new Reader(buf);
    const tag = String.fromCharCode(r.u8());
    switch (tag) {
      case "B":
        return { tag: "begin", finalLsn: r.lsn(), commitTime: r.time(), xid: r.u32() };
      case "C": {
        const flags = r.u8();
        return { tag: "commit", flags, commitLsn: r.lsn(), endLsn: r.lsn(), commitTime: r.time() };
      }
      case "O":
        return { tag: "origin", originLsn: r.lsn(), name: r.cstring() };
      case "R": {
        const oid = r.u32();
        const schema = r.cstring();
        const name = r.cstring();
        const replicaIdentity = String.fromCharCode(r.u8());
        const n = r.i16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < n; i++) {
          columns.push({ flags: r.u8(), name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() });
        }
        const relation: Relation = { oid, schema, name, replicaIdentity, columns };
        this.relations.set(oid, relation);
        return { tag: "relation", relation };
      }
      case "Y":
        return { tag: "type", oid: r.u32(), schema: r.cstring(), name: r.cstring() };
      case "I": {
        const relation = this.relation(r.u32());
        const kind = String.fromCharCode(r.u8());
        if (kind !== "N") throw new Error(`pgoutput: unexpected tuple kind '${kind}' in Insert`);
        return { tag: "insert", relation, new: this.tuple(r, relation, null) };
      }
      case "U": {
        const relation = this.relation(r.u32());
        let key: Tuple | null = null;
        let old: Tuple | null = null;
        let kind = String.fromCharCode(r.u8());
        if (kind === "K") {
          // Only the replica identity columns are meaningful; the others are sent as null.
          const keyTuple = this.tuple(r, relation, null);
          key = {};
          for (const c of relation.columns) if (c.flags & 1) key[c.name] = keyTuple[c.name];
          kind = String.fromCharCode(r.u8());
        } else if (kind === "O") {
          old = this.tuple(r, relation, null);
          kind = String.fromCharCode(r.u8());
        }
        if (kind !== "N") throw new Error(`pgoutput: unexpected tuple kind '${kind}' in Update`);
        return { tag: "update", relation, key, old, new: this.tuple(r, relation, old) };
      }
      case "D":
        return { tag: "delete", relation: this.relation(r.u32()) };
      case "T": {
        const n = r.i32();
        r.u8(); // option bits: CASCADE, RESTART IDENTITY
        const relationOids: number[] = [];
        for (let i = 0; i < n; i++) relationOids.push(r.u32());
        return { tag: "truncate", relationOids };
      }
      case "M": {
        r.u8(); // flags
        r.u64(); // message LSN
        return { tag: "message", prefix: r.cstring() };
      }
      default:
        throw new Error(`pgoutput: unknown message type '${tag}' (0x${buf[0]?.toString(16)})`);
    }
  }

  private relation(oid: number): Relation {
    const relation = this.relations.get(oid);
    if (!relation) throw new Error(`pgoutput: change for relation ${oid} before its Relation message`);
    return relation;
  }

  private tuple(r: Reader, relation: Relation, unchangedFrom: Tuple | null): Tuple {
    const n = r.i16();
    const tuple: Tuple = {};
    for (let i = 0; i < n; i++) {
      const column = relation.columns[i];
      if (!column) throw new Error(`pgoutput: tuple of ${relation.name} has more columns than its relation`);
      const kind = String.fromCharCode(r.u8());
      switch (kind) {
        case "n":
          tuple[column.name] = null;
          break;
        case "u":
          tuple[column.name] = unchangedFrom?.[column.name];
          break;
        case "t": {
          const len = r.i32();
          tuple[column.name] = parseValue(column.typeOid, r.bytes(len).toString("utf8"));
          break;
        }
        case "b": {
          const len = r.i32();
          tuple[column.name] = Buffer.from(r.bytes(len));
          break;
        }
        default:
          throw new Error(`pgoutput: unknown tuple value kind '${kind}'`);
      }
    }
    return tuple;
  }
}
