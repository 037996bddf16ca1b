-- A compact per-site status log for history queries and the operations page: one row when a
-- recomputed site's figures differ from its previous row (record_site_history, sql/080), so a
-- quiet site writes nothing. Queried by siteHistory (src/history/), bucketed with the values
-- carried forward from the last row before each bucket.
--
-- Bounded storage: `ts` is the time column a retention job partitions and prunes on; the primary
-- key includes it so the table can become range-partitioned on ts without changing its keys.
CREATE TABLE site_history (
  site_id text NOT NULL,
  ts timestamptz NOT NULL,
  demand_kw double precision,
  building_kw double precision,
  ev_load_kw double precision,
  commanded_kw double precision NOT NULL,
  limit_kw double precision,
  ev_cap_kw double precision,
  target_kw double precision,
  tier text NOT NULL,
  dr_active boolean NOT NULL,
  CONSTRAINT site_history_pkey PRIMARY KEY (site_id, ts)
);
