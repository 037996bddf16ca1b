-- The change stream (SPEC §5): a publication over the command outbox and the alerts, read through
-- a pgoutput logical replication slot by src/stream/change-stream.ts. pgoutput publishes INSERT
-- and UPDATE (alerts are updated when their message changes and when they clear); the stream
-- ignores DELETE and TRUNCATE.
CREATE PUBLICATION scc_changes FOR TABLE setpoint_commands, alerts;
