-- Readable names for the CHECK constraints PostgreSQL named itself. A CHECK that lists the values
-- of an enumerated column is <table>_<column>_values (test/db/enums.test.ts compares each with its
-- list in src/domain.ts); a CHECK over two columns says what it keeps true. Single-column range
-- checks keep their generated names (e.g. sites_min_rate_kw_check): they already read well.
ALTER TABLE sites RENAME CONSTRAINT sites_policy_check TO sites_policy_values;

ALTER TABLE session_samples_raw RENAME CONSTRAINT session_samples_raw_source_check TO session_samples_raw_source_values;
ALTER TABLE site_demand_raw RENAME CONSTRAINT site_demand_raw_source_check TO site_demand_raw_source_values;
ALTER TABLE price_signals_raw RENAME CONSTRAINT price_signals_raw_source_check TO price_signals_raw_source_values;
ALTER TABLE dr_signals_raw RENAME CONSTRAINT dr_signals_raw_source_check TO dr_signals_raw_source_values;
ALTER TABLE session_ends_raw RENAME CONSTRAINT session_ends_raw_source_check TO session_ends_raw_source_values;

ALTER TABLE price_signals_raw RENAME CONSTRAINT price_signals_raw_price_tier_check TO price_signals_raw_price_tier_values;
ALTER TABLE price_signals_raw RENAME CONSTRAINT price_signals_raw_check TO price_signals_raw_valid_to_after_valid_from;
ALTER TABLE dr_signals_raw RENAME CONSTRAINT dr_signals_raw_check TO dr_signals_raw_event_end_after_start;

ALTER TABLE sessions RENAME CONSTRAINT sessions_end_reason_check TO sessions_end_reason_values;
ALTER TABLE sessions RENAME CONSTRAINT sessions_check TO sessions_ended_at_with_end_reason;

ALTER TABLE setpoints RENAME CONSTRAINT setpoints_limited_by_check TO setpoints_limited_by_values;

ALTER TABLE alerts RENAME CONSTRAINT alerts_type_check TO alerts_type_values;
ALTER TABLE alerts RENAME CONSTRAINT alerts_status_check TO alerts_status_values;

ALTER TABLE api_keys RENAME CONSTRAINT api_keys_role_check TO api_keys_role_values;
