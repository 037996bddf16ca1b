-- SPEC §3 rules 5-9, one row per active session of the given sites that have a demand sample:
-- bounds, admission, division by the site's policy (030), rounding and what bound each setpoint.
-- recompute_sites (060) turns the rows into setpoints and commands.
-- [electrical, sql/035] setpoint_limit (the setpoint in the charger's unit, or NULL for a charge
-- point without settings) was added to the result, hence the DROP (CREATE OR REPLACE cannot
-- change the result columns); recompute_sites (plpgsql) finds the new function by name.
DROP FUNCTION IF EXISTS session_allocation(text[], timestamptz);
CREATE OR REPLACE FUNCTION session_allocation(p_sites text[], p_now timestamptz)
RETURNS TABLE (
  session_id text,
  site_id text,
  charge_point_id text,
  connector_id integer,
  rated_power_kw double precision,
  current_power_kw double precision,
  soc_pct double precision,
  admitted boolean,
  setpoint_kw numeric,
  limited_by text,
  price_tier text,
  curtailment_pct double precision,
  setpoint_limit numeric
)
LANGUAGE sql STABLE AS $$
  WITH bounded AS (
    -- Rule 5: lo_i = min(min_rate, rated_i), hi_i = rated_i; with what the vehicle accepts
    -- (SPEC §9 ev_max_kw, ev_min_kw) hi_i = min(rated_i, ev_max) and lo_i = min(max(min_rate,
    -- ev_min), hi_i): a car that will not charge below ev_min is given at least that or nothing;
    -- and SPEC §10's VEHICLE_DRAW cap (sql/035) lowers hi_i further while it is in force.
    SELECT s.session_id, s.site_id, s.charge_point_id, s.connector_id, s.rated_power_kw,
           s.current_power_kw, s.soc_pct, s.session_start_ts, coalesce(s.priority, 0) AS priority,
           -- DEADLINE: a session whose requested energy is delivered needs no minimum (lo = 0,
           -- ENERGY_MET) and no guarantee; it shares what the price target leaves like a session
           -- without a deadline. The other policies ignore the request.
           -- [electrical] a charger in amps: lo = minimum current x voltage x phases (sql/035), and
           -- hi at least that (a charger cannot go under its minimum current).
           CASE WHEN m.energy_met THEN 0
                ELSE least(greatest(coalesce(e.lo_kw, b.min_rate_kw), coalesce(s.ev_min_kw, 0)::numeric), v.hi) END AS lo,
           v.hi,
           v.vehicle_max,
           m.energy_met,
           -- DEADLINE's needed rate: what the rated power cannot deliver in the strictly cheaper
           -- published price intervals before departure (cheaper_hours, 020), over the other hours
           -- left (the current piece is one of them, so they are > 0), at most the rated power
           -- (all of it once departure has passed); and the laxity, hours left minus the hours
           -- the remaining energy takes at rated power. NULL without a departure or request.
           CASE WHEN d.hours_left IS NULL THEN NULL           -- (least() would skip the NULL)
                WHEN d.hours_left <= 0 THEN v.vehicle_max
                ELSE least(v.vehicle_max,
                           greatest(0, d.remaining_kwh - v.vehicle_max * d.cheaper_h)
                             / nullif(d.hours_left - d.cheaper_h, 0)) END AS needed,
           -- (A met session's laxity is its hours left: it keeps its rank, as EDF keeps a vehicle
           -- that was told less than it takes; measured better than putting it last.)
           d.hours_left - d.remaining_kwh / nullif(v.vehicle_max, 0) AS laxity,
           -- DEADLINE: nothing strictly cheaper is published before its departure, so holding its
           -- energy back for the price saves nothing (allocate_deadline serves it from C, after
           -- every need). A met session too: a request is an estimate, and a vehicle that takes no
           -- more is capped by VEHICLE_DRAW.
           coalesce(d.hours_left IS NOT NULL AND d.cheaper_h = 0, false) AS urgent,
           -- BID_WEIGHTED's weight: the session's bid, else the site's reserve price, else the
           -- tariff price in force (SPEC §10); a negative price bids 0.
           greatest(0, coalesce(s.bid_usd_kwh, st.reserve_bid_usd_kwh, b.price_usd_kwh))::numeric AS bid,
           b.policy, b.ev_cap_kw, b.target_kw, b.tier_factor, b.price_tier, b.curtailment_pct,
           b.dr_event_id,
           -- [electrical] the charger's unit and granularity, the amps per kW on each grid phase
           e.unit, e.volts, e.phases, e.granularity, e.configured, e.a1, e.a2, e.a3,
           st.phase_limit_a::numeric AS phase_limit_a, st.phase_currents_a
    FROM site_bounds(p_sites, p_now) b
    JOIN sites st ON st.site_id = b.site_id
    JOIN sessions s ON s.site_id = b.site_id AND s.ended_at IS NULL AND s.site_id = ANY (p_sites)
    LEFT JOIN charge_points cp ON cp.charge_point_id = s.charge_point_id
    CROSS JOIN LATERAL effective_charge_point(st, cp, s.phases, s.phase, s.voltage_v) e
    CROSS JOIN LATERAL (
      SELECT coalesce(b.policy = 'DEADLINE' AND coalesce(s.energy_kwh, 0) >= s.requested_energy_kwh, false)
               AS energy_met
    ) m
    CROSS JOIN LATERAL (
      -- [electrical] never under the charger's minimum (lo <= hi for every policy)
      SELECT vm AS vehicle_max, greatest(least(vm, coalesce(s.draw_cap_kw, vm)), e.lo_kw) AS hi
      FROM (SELECT greatest(least(s.rated_power_kw, coalesce(s.ev_max_kw, s.rated_power_kw))::numeric, e.lo_kw) AS vm) x
    ) v
    LEFT JOIN LATERAL (
      SELECT greatest(0, s.requested_energy_kwh - coalesce(s.energy_kwh, 0))::numeric AS remaining_kwh,
             extract(epoch FROM s.departure_ts - p_now) / 3600 AS hours_left,
             CASE WHEN b.policy = 'DEADLINE'
                  THEN cheaper_hours(s.site_id, p_now, s.departure_ts, b.price_usd_kwh) ELSE 0 END AS cheaper_h
      WHERE s.departure_ts IS NOT NULL AND s.requested_energy_kwh IS NOT NULL
    ) d ON true
    WHERE b.has_data                      -- no demand sample yet: no setpoints (SITE_DATA_MISSING)
  ),
  phased AS (
    -- [electrical] SPEC §10 per-phase limits: the current each grid phase has left for EVs, the
    -- limit minus the building's share of the measured phase current (measured minus what the
    -- sessions draw, as rule 1 does in kW); without measured currents, the whole limit.
    SELECT bounded.*,
           CASE WHEN phase_limit_a IS NOT NULL THEN ARRAY[
             phase_limit_a - greatest(0, coalesce(phase_currents_a[1], 0)::numeric
               - sum(coalesce(current_power_kw, 0)::numeric * a1) OVER (PARTITION BY site_id)),
             phase_limit_a - greatest(0, coalesce(phase_currents_a[2], 0)::numeric
               - sum(coalesce(current_power_kw, 0)::numeric * a2) OVER (PARTITION BY site_id)),
             phase_limit_a - greatest(0, coalesce(phase_currents_a[3], 0)::numeric
               - sum(coalesce(current_power_kw, 0)::numeric * a3) OVER (PARTITION BY site_id))] END AS avail
    FROM bounded
  ),
  admission AS (
    -- Rule 6 (and SPEC §10): admit in order of priority (higher first, unknown as 0), then
    -- session_start_ts, then session_id, while the running sum of lo fits under the hard cap C.
    -- The first that does not fit, and all after it, get 0. Every policy admits this way.
    -- DEADLINE admits by least laxity after priority (sessions without a deadline after those
    -- with one, then by start): a late arrival about to miss its departure is not left out while
    -- early arrivals with hours to spare hold their minimums (docs/allocation.md).
    SELECT phased.*,
           sum(lo) OVER by_rank <= ev_cap_kw
           -- [electrical] and, with a per-phase limit, while the minimums' currents fit every phase
           -- on the phases it loads (a session on L3 is not held back by a full L1)
           AND (avail IS NULL OR ((a1 = 0 OR sum(lo * a1) OVER by_rank <= avail[1] + 1e-9)
                                  AND (a2 = 0 OR sum(lo * a2) OVER by_rank <= avail[2] + 1e-9)
                                  AND (a3 = 0 OR sum(lo * a3) OVER by_rank <= avail[3] + 1e-9)))
             AS admitted
    FROM phased
    WINDOW by_rank AS (PARTITION BY site_id
                       ORDER BY priority DESC, CASE WHEN policy = 'DEADLINE' THEN laxity END NULLS LAST,
                                session_start_ts, session_id)
  ),
  per_site AS (
    -- Rule 7: the amount max(T, sum of admitted lo), and the admitted sessions in session_id order.
    SELECT site_id, policy,
           greatest(min(target_kw), sum(lo)) AS amount,
           array_agg(session_id ORDER BY session_id) AS session_ids,
           array_agg(lo ORDER BY session_id) AS lo,
           array_agg(hi ORDER BY session_id) AS hi,
           array_agg(bid ORDER BY session_id) AS bid,
           min(ev_cap_kw) AS cap,
           array_agg(needed ORDER BY session_id) AS needed,
           array_agg(laxity ORDER BY session_id) AS laxity,
           array_agg(a1 ORDER BY session_id) AS a1,
           array_agg(a2 ORDER BY session_id) AS a2,
           array_agg(a3 ORDER BY session_id) AS a3,
           min(avail) AS avail,
           array_agg(urgent ORDER BY session_id) AS urgent
    FROM admission
    WHERE admitted
    GROUP BY site_id, policy
  ),
  divided AS (
    -- Rule 7: the site's policy divides the amount (sql/030_policies.sql). No default: a policy
    -- without a function here is an error, not an equal division.
    SELECT d.session_id, d.exact_kw, d.phase_limited
    FROM per_site p
    CROSS JOIN LATERAL (SELECT
      CASE p.policy
        WHEN 'WATER_FILL' THEN allocate_water_fill(p.amount, p.lo, p.hi)
        WHEN 'EQUAL_SHARE' THEN allocate_equal_share(p.amount, p.lo, p.hi)
        WHEN 'DEADLINE' THEN allocate_deadline(p.amount, p.cap, p.lo, p.hi, p.needed, p.laxity, p.urgent)
        WHEN 'BID_WEIGHTED' THEN allocate_bid_weighted(p.amount, p.lo, p.hi, p.bid)
        ELSE allocation_policy_unknown(p.policy, p.site_id)
      END AS kw) pol
    -- [electrical] with a per-phase limit, progressive filling under the phases too (sql/035):
    -- WATER_FILL from the sessions' own bounds (max-min fair across all constraints); another
    -- policy's shares are the ceilings (a phase limit only cuts them).
    CROSS JOIN LATERAL (
      SELECT pol.kw, NULL::boolean[] AS phase_limited WHERE p.avail IS NULL
      UNION ALL
      SELECT f.kw, f.phase_limited
      FROM allocate_with_phase_limits(CASE WHEN p.policy = 'WATER_FILL' THEN p.amount END, p.lo,
             CASE WHEN p.policy = 'WATER_FILL' THEN p.hi ELSE pol.kw END, p.a1, p.a2, p.a3, p.avail) f
      WHERE p.avail IS NOT NULL
    ) r
    CROSS JOIN LATERAL unnest(p.session_ids, r.kw, r.phase_limited) AS d (session_id, exact_kw, phase_limited)
  ),
  exact AS (
    SELECT admission.*, coalesce(d.exact_kw, 0) AS exact_kw,  -- not admitted: 0
           coalesce(d.phase_limited, false) AS phase_limited,
           -- [electrical] a configured charger's limit in its unit, rounded down (sql/035)
           CASE WHEN admission.configured
                THEN charger_limit(coalesce(d.exact_kw, 0), admission.unit, admission.volts, admission.phases,
                                   admission.granularity) END AS setpoint_limit,
           -- DEADLINE's guarantee (as allocate_deadline computes it, before the cap)
           least(admission.hi, greatest(admission.lo, coalesce(admission.needed, 0))) AS guarantee
    FROM admission
    LEFT JOIN divided d ON d.session_id = admission.session_id AND admission.admitted
  )
  SELECT session_id, site_id, charge_point_id, connector_id, rated_power_kw, current_power_kw, soc_pct,
         admitted,
         -- Rule 8: kW rounded down to 0.01, never negative; [electrical] for a configured charger,
         -- its limit (already rounded down in its unit) in kW, rounded down.
         CASE WHEN setpoint_limit IS NOT NULL THEN limit_kw(setpoint_limit, unit, volts, phases)
              ELSE greatest(0, floor(exact_kw * 100) / 100) END::numeric(10, 2),
         -- Rule 9: what bound this setpoint.
         CASE
           -- DEADLINE: its request is met; below its rate because every need came first
           WHEN energy_met AND exact_kw < hi THEN 'ENERGY_MET'
           WHEN NOT admitted THEN 'NOT_ADMITTED'
           -- SPEC §10: held down by its VEHICLE_DRAW cap (it draws less than it was given)
           WHEN exact_kw >= hi AND hi < vehicle_max THEN 'VEHICLE_DRAW'
           WHEN exact_kw >= hi THEN 'RATED_POWER'
           -- DEADLINE: held at its guaranteed (needed) rate above its minimum; below it, or an
           -- urgent session below its rate, the cap ran out before its turn (the price tier never
           -- cuts a guarantee or an urgent rate).
           WHEN policy = 'DEADLINE' AND guarantee > lo AND exact_kw = guarantee THEN 'DEADLINE'
           WHEN policy = 'DEADLINE' AND exact_kw > lo AND (exact_kw < guarantee OR urgent) THEN
             CASE WHEN dr_event_id IS NOT NULL THEN 'DEMAND_RESPONSE' ELSE 'SITE_LIMIT' END
           WHEN phase_limited AND exact_kw > lo THEN 'PHASE_LIMIT'    -- [electrical]
           WHEN exact_kw <= lo THEN 'MIN_RATE'
           -- The site-level bound that set the amount: the price tier only when T = C0 x factor
           -- is below C (a DR cap under it binds instead; rule 4 as amended: they do not stack).
           WHEN target_kw < ev_cap_kw THEN 'PRICE_TIER'
           WHEN dr_event_id IS NOT NULL THEN 'DEMAND_RESPONSE'
           ELSE 'SITE_LIMIT'
         END,
         price_tier, curtailment_pct, setpoint_limit
  FROM exact
$$;
