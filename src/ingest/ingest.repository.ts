// Writes validated events to the raw tables, each batch in ONE statement (unnest of arrays), so
// the statement-level triggers recompute each touched site once. A Kafka row carries its
// (topic, partition, offset); replaying it inserts nothing (kafka_ingest_positions).
import { sql } from "kysely";
import type { Db } from "../db/pool.js";
import type { Source } from "../db/types.js";
import type { Column, InputStream } from "./streams.js";

export interface KafkaOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export type Origin = { source: "graphql" } | { source: "kafka"; positions: readonly KafkaOrigin[] };

export const GRAPHQL: Origin = { source: "graphql" };

type Executor = Pick<Db, "executeQuery"> & Db;

/**
 * INSERT ... SELECT FROM unnest(one array per column) WITH ORDINALITY, joined to the Kafka
 * positions by ordinal: one statement per batch, whatever its size.
 */
async function insertRaw<T>(
  db: Executor,
  table: string,
  columns: readonly Column<T>[],
  rows: readonly T[],
  origin: Origin,
) {
  if (rows.length === 0) return 0;
  const positions = origin.source === "kafka" ? origin.positions : [];
  if (origin.source === "kafka" && positions.length !== rows.length) {
    throw new Error(`expected ${rows.length} Kafka positions, got ${positions.length}`);
  }
  const names = sql.raw(columns.map((c) => c.name).join(", "));
  const selected = sql.raw(columns.map((c) => (c.cast ? `u.${c.name}::${c.cast}` : `u.${c.name}`)).join(", "));
  const arrays = sql.join(columns.map((c) => sql`${rows.map(c.value)}::${sql.raw(c.type)}[]`));
  const topics = sql`${positions.map((p) => p.topic)}::text[]`;
  const partitions = sql`${positions.map((p) => p.partition)}::int[]`;
  const offsets = sql`${positions.map((p) => p.offset)}::int8[]`;
  // A Kafka row is stored only if its offset was not stored before (claim_kafka_offsets,
  // sql/080_retention.sql): the dedupe works across the raw tables' time partitions.
  const kafka = origin.source === "kafka";
  const claim = kafka
    ? sql`WITH fresh AS MATERIALIZED (SELECT claim_kafka_offsets(${topics}, ${partitions}, ${offsets}) AS n)`
    : sql``;
  const result = await sql`
    ${claim}
    INSERT INTO ${sql.raw(table)} (${names}, source, kafka_topic, kafka_partition, kafka_offset)
    SELECT ${selected}, ${origin.source satisfies Source}, k.topic, k.part, k.off
    FROM unnest(${arrays}) WITH ORDINALITY AS u (${names}, n)
    LEFT JOIN unnest(${topics}, ${partitions}, ${offsets}) WITH ORDINALITY AS k (topic, part, off, n) ON k.n = u.n
    ${kafka ? sql`WHERE u.n IN (SELECT n FROM fresh)` : sql``}
    ORDER BY u.n`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/** Stores a validated batch of one stream; returns how many rows were new (a replayed Kafka message counts 0). */
export function insertStream<T>(db: Executor, stream: InputStream<T>, rows: readonly T[], origin: Origin = GRAPHQL) {
  return insertRaw(db, stream.table, stream.columns, rows, origin);
}

/** Ends a session explicitly; endedAt defaults to the database clock. */
export async function insertSessionEnd(db: Executor, sessionId: string, endedAt: Date | null): Promise<void> {
  await sql`
    INSERT INTO session_ends_raw (session_id, ended_at, source)
    VALUES (${sessionId}, coalesce(${endedAt?.toISOString() ?? null}::timestamptz, app_now()), 'graphql')`.execute(db);
}
