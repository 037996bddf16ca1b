-- SPEC §10 BID_WEIGHTED: the policy value, and the site's reserve price, the bid of a session
-- without one. NULL (the default) means "the tariff price in force" (site_bounds' price_usd_kwh);
-- session_allocation (sql/040) reads it from sites. Not yet settable through configureSite.
ALTER TABLE sites
  ADD COLUMN reserve_bid_usd_kwh double precision,
  ADD CONSTRAINT sites_reserve_bid_usd_kwh_range CHECK (reserve_bid_usd_kwh BETWEEN 0 AND 100);

ALTER TABLE sites
  DROP CONSTRAINT sites_policy_values,
  ADD CONSTRAINT sites_policy_values CHECK (policy IN ('WATER_FILL', 'EQUAL_SHARE', 'BID_WEIGHTED'));
