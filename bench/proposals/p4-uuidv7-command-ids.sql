-- Proposal P4: time-ordered command ids. setpoint_commands.command_id defaults to
-- gen_random_uuid(): every command inserts at a random place of the command_id unique index, so
-- a batch of 750 commands dirties ~750 different leaf pages, and after each checkpoint every one
-- of them is written to the WAL as a full 8 kB page image (full_page_writes) - which the change
-- stream then has to read past as well. uuidv7() (built in since PostgreSQL 18; gen_random_uuid()
-- before) is still unique and opaque to consumers but increases with time, so new ids land on
-- the index's right-most page, like seq does. In a migration:
--   ALTER TABLE setpoint_commands ALTER COLUMN command_id SET DEFAULT uuidv7();
ALTER TABLE setpoint_commands ALTER COLUMN command_id SET DEFAULT uuidv7();
