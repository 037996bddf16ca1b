-- SPEC §10 DEADLINE policy and §4 DEADLINE_AT_RISK: the new enumerated values in the CHECKs that
-- keep the lists of src/domain.ts (test/db/enums.test.ts compares them). The rule itself is in
-- sql/030_policies.sql (allocate_deadline), sql/040_session_allocation.sql and sql/050_alerts.sql.
ALTER TABLE sites
  DROP CONSTRAINT sites_policy_values,
  ADD CONSTRAINT sites_policy_values CHECK (policy IN ('WATER_FILL', 'EQUAL_SHARE', 'DEADLINE', 'BID_WEIGHTED'));

ALTER TABLE setpoints
  DROP CONSTRAINT setpoints_limited_by_values,
  ADD CONSTRAINT setpoints_limited_by_values CHECK (limited_by IN
    ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT', 'DEADLINE',
     'ENERGY_MET', 'SESSION_ENDED'));

ALTER TABLE alerts
  DROP CONSTRAINT alerts_type_values,
  ADD CONSTRAINT alerts_type_values CHECK (type IN
    ('SETPOINT_DEVIATION', 'SITE_OVER_DEMAND', 'DEADLINE_AT_RISK', 'CAPACITY_SHORTFALL', 'STALE_SITE_DATA',
     'SITE_DATA_MISSING'));
