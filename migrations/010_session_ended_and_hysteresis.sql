-- SPEC §3: a session's final command when it ends carries limitedBy SESSION_ENDED. The setpoints
-- CHECK keeps the whole SETPOINT_LIMITS list of src/domain.ts (test/db/enums.test.ts compares
-- them), though a setpoint row itself is deleted when its session ends.
ALTER TABLE setpoints DROP CONSTRAINT setpoints_limited_by_values;
ALTER TABLE setpoints ADD CONSTRAINT setpoints_limited_by_values CHECK (limited_by IN
  ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT', 'SESSION_ENDED'));

-- SPEC §4: SITE_OVER_DEMAND is raised above the demand limit and cleared only below the limit
-- minus this percentage of it (configureSite overDemandHysteresisPct), so it does not flap.
ALTER TABLE sites ADD COLUMN over_demand_hysteresis_pct double precision NOT NULL DEFAULT 2
  CHECK (over_demand_hysteresis_pct BETWEEN 0 AND 50);
