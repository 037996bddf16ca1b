-- SPEC §3 rules 1-4, one row per site: building load B, hard cap C, the DR event in force, the
-- price tier in force and the soft target T = min(C, C0 * factor). Arithmetic in numeric so
-- rounding never lifts a sum over C. session_allocation (040) and recompute_sites (060) read it.

CREATE OR REPLACE FUNCTION site_bounds(p_sites text[], p_now timestamptz)
RETURNS TABLE (
  site_id text,
  has_data boolean,
  policy text,
  min_rate_kw numeric,
  building_load_kw numeric,
  ev_cap_kw numeric,
  target_kw numeric,
  price_tier text,
  price_usd_kwh double precision,
  tier_factor numeric,
  curtailment_pct double precision,
  dr_event_id text
)
LANGUAGE sql STABLE AS $$
  SELECT
    st.site_id,
    st.measured_ts IS NOT NULL,
    st.policy,
    st.min_rate_kw::numeric,
    b.building_load_kw,
    cap.ev_cap_kw,
    -- Rule 4 (as amended): soft target T = min(C, C0 * factor(tier)), C0 the cap before DR, so a
    -- price factor and a DR curtailment do not stack (stacked, they over-delivered the DR cut).
    least(cap.ev_cap_kw, cap.c0 * tier.factor),
    tier.price_tier,
    tier.price_usd_kwh,
    tier.factor,
    coalesce(dr.curtailment_pct, 0),
    dr.dr_event_id
  FROM sites st
  -- Rule 1: building load B = max(0, current_demand - ev_load). Never the EV load itself: the
  -- tutorial subtracted the whole demand and so chased its own load.
  CROSS JOIN LATERAL (
    SELECT greatest(0, st.current_demand_kw::numeric - st.ev_load_kw::numeric) AS building_load_kw
  ) b
  -- Rule 3: the DR event in force (start <= now < end); the newest signal per site wins.
  LEFT JOIN LATERAL (
    SELECT d.dr_event_id, d.curtailment_pct, d.baseline_kw
    FROM dr_events d
    WHERE d.site_id = st.site_id AND d.event_start_ts <= p_now AND p_now < d.event_end_ts
    ORDER BY d.signal_ts DESC, d.dr_event_id
    LIMIT 1
  ) dr ON true
  -- Rule 2: hard EV cap C = max(0, limit - B), then rule 3's curtailment and baseline.
  CROSS JOIN LATERAL (
    SELECT CASE
      WHEN dr.dr_event_id IS NULL THEN c0
      WHEN dr.baseline_kw > 0 THEN least(
        c0 * (1 - dr.curtailment_pct::numeric / 100),
        greatest(0, dr.baseline_kw::numeric * (1 - dr.curtailment_pct::numeric / 100) - b.building_load_kw))
      ELSE c0 * (1 - dr.curtailment_pct::numeric / 100)
    END AS ev_cap_kw,
    c0
    FROM (SELECT greatest(0, st.demand_limit_kw::numeric - b.building_load_kw) AS c0) c
  ) cap
  -- Rule 4: the price interval in force (valid_from <= now < valid_to); the newest valid_from
  -- wins; none means OFF_PEAK at 0.10 USD/kWh.
  LEFT JOIN LATERAL (
    SELECT p.price_tier, p.price_usd_kwh
    FROM price_intervals p
    WHERE p.site_id = st.site_id AND p.valid_from <= p_now AND p_now < p.valid_to
    ORDER BY p.valid_from DESC, p.received_at DESC
    LIMIT 1
  ) pr ON true
  CROSS JOIN LATERAL (
    SELECT
      coalesce(pr.price_tier, 'OFF_PEAK') AS price_tier,
      coalesce(pr.price_usd_kwh, 0.10) AS price_usd_kwh,
      (CASE coalesce(pr.price_tier, 'OFF_PEAK')
        WHEN 'OFF_PEAK' THEN st.factor_off_peak
        WHEN 'MID_PEAK' THEN st.factor_mid_peak
        WHEN 'ON_PEAK' THEN st.factor_on_peak
        ELSE st.factor_critical_peak
      END)::numeric AS factor
  ) tier
  WHERE st.site_id = ANY (p_sites)
$$;

-- DEADLINE's price look-ahead (SPEC §10): the hours in [p_from, p_to) during which a published
-- price interval in force (as rule 4 picks it: newest valid_from, then the last received) is
-- strictly cheaper than p_price. The span is cut at every interval start and end inside it;
-- each piece takes the price in force at its start. A gap with no interval is not published, so
-- it never counts. session_allocation (040) and refresh_alerts (050) read it.
CREATE OR REPLACE FUNCTION cheaper_hours(p_site_id text, p_from timestamptz, p_to timestamptz,
  p_price double precision)
RETURNS numeric
LANGUAGE sql STABLE AS $$
  WITH cuts AS (
    SELECT p_from AS at
    UNION
    SELECT v.at
    FROM price_intervals p
    CROSS JOIN LATERAL (VALUES (p.valid_from), (p.valid_to)) AS v (at)
    WHERE p.site_id = p_site_id AND p.valid_to > p_from AND p.valid_from < p_to
      AND v.at > p_from AND v.at < p_to
  ),
  pieces AS (
    SELECT at, coalesce(lead(at) OVER (ORDER BY at), p_to) AS until FROM cuts
  )
  SELECT coalesce(sum(extract(epoch FROM g.until - g.at) / 3600), 0)
  FROM pieces g
  CROSS JOIN LATERAL (
    SELECT p.price_usd_kwh
    FROM price_intervals p
    WHERE p.site_id = p_site_id AND p.valid_from <= g.at AND g.at < p.valid_to
    ORDER BY p.valid_from DESC, p.received_at DESC
    LIMIT 1
  ) pr
  WHERE p_to > p_from AND pr.price_usd_kwh < p_price
$$;
