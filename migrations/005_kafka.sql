-- The Kafka bridge (SPEC §2, §5): messages the consumer could not accept. A bad message (not JSON,
-- wrong types, out of range, rejected by the database) is parked here and on `<topic>.dlq`, with
-- the reason, and never blocks its partition. Unique by (topic, partition, offset), so a replayed
-- partition parks nothing twice. dlq_published_at is set once the copy on `<topic>.dlq` was
-- acknowledged by Kafka: a redelivered message is published again only while it is still NULL.
CREATE TABLE dead_letters (
  id bigserial PRIMARY KEY,
  topic text NOT NULL,
  partition integer NOT NULL,
  kafka_offset bigint NOT NULL,
  -- The message exactly as received (bytes: it may not even be UTF-8); convert_from(payload, 'UTF8')
  -- to read it.
  key bytea,
  payload bytea,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  message_ts timestamptz,
  reason text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  dlq_published_at timestamptz,
  UNIQUE (topic, partition, kafka_offset)
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
