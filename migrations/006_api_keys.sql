-- API keys managed in the database (SPEC §7). Only a SHA-256 hash of a key is stored; the key is
-- shown once, when it is created.
CREATE TABLE api_keys (
  id bigserial PRIMARY KEY,
  key_hash text NOT NULL UNIQUE,
  key_prefix text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'ingest', 'cpms', 'reader')),
  sites text[],
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
