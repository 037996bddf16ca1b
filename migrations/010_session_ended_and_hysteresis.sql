-- SPEC §3: a session's final command when it ends carries limitedBy SESSION_ENDED. The setpoints
-- CHECK keeps the whole SETPOINT_LIMITS list of src/domain.ts (test/db/enums.test.ts compares
-- them), though a setpoint row itself is deleted when its session ends.
ALTER TABLE setpoints DROP CONSTRAINT setpoints_limited_by_values;
ALTER TABLE setpoints ADD CONSTRAINT setpoints_limited_by_values CHECK (limited_by IN
  ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT', 'SESSION_ENDED'));
