// The dead_letters table (SPEC §2): bad Kafka messages parked with their reason, and whether
// they reached `<topic>.dlq`.
import type { IHeaders, KafkaMessage } from "kafkajs";
import { sql, type Transaction } from "kysely";
import type { Db } from "../db/pool.js";
import type { Database } from "../db/types.js";

export interface DeadLetter {
  message: KafkaMessage;
  reason: string;
}

function headersAsStrings(headers: IHeaders | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[key] = Array.isArray(value) ? value.map((v) => v.toString()) : value.toString();
  }
  return out;
}

const hex = (b: Buffer | null) => (b === null ? null : b.toString("hex"));

/**
 * Parks dead letters of one topic-partition (a redelivered one is kept as first parked), in the
 * transaction that stores the batch's good messages. Returns those not yet published to the DLQ
 * topic (a redelivered one that was published before is not sent again).
 */
export async function insertDeadLetters(
  trx: Transaction<Database>,
  topic: string,
  partition: number,
  dead: readonly DeadLetter[],
): Promise<DeadLetter[]> {
  if (dead.length === 0) return [];
  const offsets = dead.map((d) => d.message.offset);
  // dead_letters is partitioned by time (bounded storage), so no unique (topic, partition, offset):
  // a redelivered message is found by its position, under a lock on the topic-partition.
  await sql`SELECT pg_advisory_xact_lock(hashtext(${topic}), ${partition})`.execute(trx);
  await sql`
    INSERT INTO dead_letters (topic, partition, kafka_offset, key, payload, headers, message_ts, reason)
    SELECT ${topic}, ${partition}, u.off, decode(u.k, 'hex'), decode(u.v, 'hex'), u.h::jsonb,
           to_timestamp(u.ts / 1000.0), u.reason
    FROM unnest(${offsets}::int8[], ${dead.map((d) => hex(d.message.key))}::text[],
                ${dead.map((d) => hex(d.message.value))}::text[],
                ${dead.map((d) => JSON.stringify(headersAsStrings(d.message.headers)))}::text[],
                ${dead.map((d) => Number(d.message.timestamp) || null)}::float8[],
                ${dead.map((d) => d.reason)}::text[]) AS u (off, k, v, h, ts, reason)
    WHERE NOT EXISTS (SELECT 1 FROM dead_letters d
                      WHERE d.topic = ${topic} AND d.partition = ${partition} AND d.kafka_offset = u.off)`.execute(trx);
  const { rows } = await sql<{ offset: string }>`
    SELECT kafka_offset::text AS offset FROM dead_letters
    WHERE topic = ${topic} AND partition = ${partition}
      AND kafka_offset = ANY(${offsets}::int8[]) AND dlq_published_at IS NULL`.execute(trx);
  const pending = new Set(rows.map((r) => r.offset));
  return dead.filter((d) => pending.has(d.message.offset));
}

/** Records that these dead letters are on the DLQ topic (no transaction needed). */
export async function markDeadLettersPublished(
  db: Db,
  topic: string,
  partition: number,
  offsets: readonly string[],
): Promise<void> {
  await sql`
    UPDATE dead_letters SET dlq_published_at = now()
    WHERE topic = ${topic} AND partition = ${partition}
      AND kafka_offset = ANY(${offsets}::int8[])`.execute(db);
}

export interface DeadLetterRow {
  id: string;
  topic: string;
  partition: number;
  kafka_offset: string;
  key: Buffer | null;
  payload: Buffer | null;
  headers: unknown;
  message_ts: Date | null;
  reason: string;
  received_at: Date;
  dlq_published_at: Date | null;
}

/** Newest first; after = the id of the last one received; limit rows (the caller asks one more). */
export async function listDeadLetters(db: Db, page: { limit: number; after: string | null }): Promise<DeadLetterRow[]> {
  let query = db.selectFrom("dead_letters").selectAll().orderBy("id", "desc").limit(page.limit);
  if (page.after !== null) query = query.where("id", "<", page.after);
  return query.execute();
}
