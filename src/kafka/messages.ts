// What goes over Kafka: the four input streams in (snake_case JSON, SPEC §2) and the setpoint
// commands out (SPEC §5). Input is decoded here and validated by src/ingest/validate.ts, the same
// code path as the GraphQL mutations; a message that fails gets one readable reason naming each
// bad field by its snake_case name, as the producer wrote it.
import type { KafkaTopics } from "../config.js";
import { INPUT_FIELDS, INPUT_STREAMS, STREAM_KINDS, type StreamKind, type StreamValues } from "../ingest/streams.js";
import type { Checked } from "../ingest/validate.js";
import { camelToSnake, snakeToCamel } from "../lib/case.js";

export { STREAM_KINDS, type StreamKind, type StreamValues };

const FIELD_PATTERN = new RegExp(`\\b(${INPUT_FIELDS.join("|")})\\b`, "g");
const SNAKE_KEY = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const MAX_REASON_LENGTH = 2000;
/** Producer key -> camelCase name (null: not snake_case, ignored); bounded, since keys come from producers. */
const KEY_NAMES = new Map<string, string | null>();
const KEY_NAMES_MAX = 1000;

/** The camelCase name of a snake_case key, or null; memoised (the regexes cost more than the rest of a message). */
function camelKey(key: string): string | null {
  let name = KEY_NAMES.get(key);
  if (name === undefined) {
    name = SNAKE_KEY.test(key) ? snakeToCamel(key) : null;
    if (KEY_NAMES.size < KEY_NAMES_MAX) KEY_NAMES.set(key, name);
  }
  return name;
}

/** The validator speaks camelCase; a Kafka producer wrote snake_case. */
function snakeText(text: string): string {
  return text.replace(FIELD_PATTERN, (name) => camelToSnake(name));
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

function truncate(text: string): string {
  return text.length <= MAX_REASON_LENGTH ? text : `${text.slice(0, MAX_REASON_LENGTH - 1)}…`;
}

/**
 * Decodes and validates one message value of a stream. Keys must be snake_case exactly as in
 * SPEC §2 (any other key is ignored, so `sessionId` counts as a missing `session_id`).
 */
export function decodeMessage<K extends StreamKind>(
  kind: K,
  value: Buffer | null,
  now = Date.now(),
): Decoded<StreamValues[K]> {
  if (value === null || value.length === 0) return { ok: false, reason: "empty message: a JSON object is required" };
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { ok: false, reason: "not valid UTF-8" };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: truncate(`not JSON: ${(error as Error).message}`) };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    const got = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : typeof parsed;
    return { ok: false, reason: `must be a JSON object, got ${got}` };
  }
  const raw: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(parsed as Record<string, unknown>)) {
    const name = camelKey(key);
    if (name !== null) raw[name] = field;
  }
  const checked = INPUT_STREAMS[kind].check(raw, now) as Checked<StreamValues[K]>;
  if (checked.ok) return checked;
  const reason = checked.issues.map((i) => `${camelToSnake(i.field)}: ${snakeText(i.message)}`).join("; ");
  return { ok: false, reason: truncate(reason) };
}

/** Topic name -> stream, for the four input topics. */
export function topicKinds(topics: KafkaTopics): Map<string, StreamKind> {
  const map = new Map<string, StreamKind>();
  for (const kind of STREAM_KINDS) {
    if (map.has(topics[kind])) throw new Error(`Kafka topic ${topics[kind]} is configured for two streams`);
    map.set(topics[kind], kind);
  }
  if (map.has(topics.setpointCommands)) {
    throw new Error(`Kafka topic ${topics.setpointCommands} is both an input and the command topic`);
  }
  if (map.has(topics.failsafeProfiles) || topics.failsafeProfiles === topics.setpointCommands) {
    throw new Error(`Kafka topic ${topics.failsafeProfiles} is both the failsafe topic and another topic`);
  }
  return map;
}

export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

export { type CommandMessage, commandMessage } from "../setpoints/command.js";
