-- The per-site status log (migrations/015_site_history.sql): recompute_sites (060) calls
-- record_site_history at its end, so every path that changes a site's figures (a demand sample,
-- a session sample, a signal, a boundary, configureSite) is recorded. A row is written only when
-- the figures differ from the site's latest row at or before t; several changes at the same
-- instant keep the last (upsert on (site_id, ts)). siteHistory (src/history/) reads it.
CREATE OR REPLACE FUNCTION record_site_history(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  INSERT INTO site_history AS h (site_id, ts, demand_kw, building_kw, ev_load_kw, commanded_kw,
    limit_kw, ev_cap_kw, target_kw, tier, dr_active)
  SELECT c.site_id, t, c.demand_kw, c.building_kw, c.ev_load_kw, c.commanded_kw,
         c.limit_kw, c.ev_cap_kw, c.target_kw, c.tier, c.dr_active
  FROM (
    SELECT st.site_id, st.current_demand_kw AS demand_kw, st.building_load_kw::float8 AS building_kw,
           st.ev_load_kw, st.demand_limit_kw AS limit_kw, st.ev_cap_kw::float8 AS ev_cap_kw,
           st.target_kw::float8 AS target_kw, st.price_tier AS tier, st.dr_event_id IS NOT NULL AS dr_active,
           coalesce((SELECT sum(sp.commanded_kw) FROM setpoints sp WHERE sp.site_id = st.site_id), 0)::float8
             AS commanded_kw
    FROM sites st
    WHERE st.site_id = ANY (p_sites)
  ) c
  LEFT JOIN LATERAL (
    SELECT l.demand_kw, l.building_kw, l.ev_load_kw, l.commanded_kw, l.limit_kw, l.ev_cap_kw,
           l.target_kw, l.tier, l.dr_active
    FROM site_history l
    WHERE l.site_id = c.site_id AND l.ts <= t
    ORDER BY l.ts DESC
    LIMIT 1
  ) last ON true
  WHERE (c.demand_kw, c.building_kw, c.ev_load_kw, c.commanded_kw, c.limit_kw, c.ev_cap_kw,
         c.target_kw, c.tier, c.dr_active)
        IS DISTINCT FROM
        (last.demand_kw, last.building_kw, last.ev_load_kw, last.commanded_kw, last.limit_kw,
         last.ev_cap_kw, last.target_kw, last.tier, last.dr_active)
  ORDER BY c.site_id
  ON CONFLICT (site_id, ts) DO UPDATE
  SET demand_kw = excluded.demand_kw, building_kw = excluded.building_kw, ev_load_kw = excluded.ev_load_kw,
      commanded_kw = excluded.commanded_kw, limit_kw = excluded.limit_kw, ev_cap_kw = excluded.ev_cap_kw,
      target_kw = excluded.target_kw, tier = excluded.tier, dr_active = excluded.dr_active;
END
$$;
