-- SPEC §10 "Capacity a car does not use" (limitedBy VEHICLE_DRAW): the site's settings and each
-- session's draw state. The rule is in sql/035_vehicle_draw.sql (vehicle_draw_step), applied by
-- the session-sample trigger (sql/070) and read by session_allocation (sql/040).

-- Site settings (configureSite vehicleDrawMarginKw, vehicleDrawMarginPct, vehicleDrawHoldSeconds):
-- the margin is max(margin_kw, margin_pct % of the limit it is measured against); the hold is how
-- long (and at least two meter values) a session must draw less than its command minus the margin
-- before it is capped.
ALTER TABLE sites
  ADD COLUMN draw_margin_kw double precision NOT NULL DEFAULT 1.0,
  ADD COLUMN draw_margin_pct double precision NOT NULL DEFAULT 20,
  ADD COLUMN draw_hold_s integer NOT NULL DEFAULT 60,
  ADD CONSTRAINT sites_draw_margin_kw_range CHECK (draw_margin_kw BETWEEN 0.1 AND 1000),
  ADD CONSTRAINT sites_draw_margin_pct_range CHECK (draw_margin_pct BETWEEN 0 AND 100),
  ADD CONSTRAINT sites_draw_hold_s_range CHECK (draw_hold_s BETWEEN 0 AND 86400);

-- Per session: the first meter value of the current run of "short" samples (drawing less than the
-- limit minus the margin) and how many samples the run has; the cap in force (NULL: none).
ALTER TABLE sessions
  ADD COLUMN draw_short_since timestamptz,
  ADD COLUMN draw_short_samples integer NOT NULL DEFAULT 0,
  ADD COLUMN draw_cap_kw numeric;

ALTER TABLE setpoints
  DROP CONSTRAINT setpoints_limited_by_values,
  ADD CONSTRAINT setpoints_limited_by_values CHECK (limited_by IN
    ('RATED_POWER', 'MIN_RATE', 'NOT_ADMITTED', 'PRICE_TIER', 'DEMAND_RESPONSE', 'SITE_LIMIT', 'DEADLINE',
     'ENERGY_MET', 'VEHICLE_DRAW', 'SESSION_ENDED'));
