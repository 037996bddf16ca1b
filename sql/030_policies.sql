-- SPEC §3 rule 7: the allocation policies, one function each. session_allocation (040) calls the
-- site's policy once per site with the admitted sessions in session_id order.
--
-- The contract of a policy function allocate_<policy>(amount, lo, hi[, per-session inputs]):
--   amount  what the site hands out: max(T, sum of lo), so amount >= sum(lo) always
--   lo, hi  the sessions' bounds (rule 5), element i belongs to the i-th session
--   …       a policy that reads more of a session (BID_WEIGHTED: its bid) takes one more array,
--           in the same order; DEADLINE also takes the site's hard cap C (its guarantees may
--           exceed the amount, never C)
--   returns the exact kW of each session, in the same order, with lo_i <= kW_i <= hi_i and
--           sum(kW) <= max(amount, sum(lo)); rounding (rule 8) and limitedBy (rule 9) are done
--           by session_allocation.
-- A new policy: add its function here, its value to ALLOCATION_POLICIES in src/domain.ts and to
-- the sites_policy_values CHECK (a numbered migration), and a WHEN to session_allocation.
-- Plain IMMUTABLE SQL: no SET clauses (they would stop the planner from inlining them); the
-- plpgsql callers' plan settings are in force while these run.

-- WATER_FILL (the default): max-min fair. The level L with sum(clamp(L, lo_i, hi_i)) = amount, or
-- every session at hi_i if that is more than they can take. As amount >= sum(lo), L >= min_rate,
-- and there clamp(L, lo_i, hi_i) = min(L, hi_i). Sorted by hi, the k-th candidate level assumes
-- the k-1 smaller sessions sit at their rated power:
--   L_k = (amount - sum_{j<k} hi_j) / (n - k + 1).
-- Saturated sessions (hi_k <= L_k) form a prefix; L is L_k of the first unsaturated one, which is
-- also the largest L_k among the unsaturated. None unsaturated: all at rated power.
-- This closed form needs every lo_i = min(m, hi_i) for one minimum m (rule 5's bounds); bounds
-- that differ more (a vehicle's ev_min_kw above the site minimum) go through allocate_water_fill,
-- below, to the weighted fill.
CREATE OR REPLACE FUNCTION allocate_water_fill_common_min(p_amount numeric, p_lo numeric[], p_hi numeric[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  WITH sessions AS (
    SELECT i, lo, hi FROM unnest(p_lo, p_hi) WITH ORDINALITY AS u (lo, hi, i)
  ),
  candidates AS (
    SELECT i, lo, hi,
           (p_amount - (sum(hi) OVER by_hi - hi)) / (count(*) OVER () - row_number() OVER by_hi + 1) AS level_k
    FROM sessions
    WINDOW by_hi AS (ORDER BY hi, i)
  ),
  water AS (
    SELECT max(level_k) FILTER (WHERE hi > level_k) AS level FROM candidates
  )
  SELECT array_agg(least(c.hi, greatest(c.lo, coalesce(w.level, c.hi))) ORDER BY c.i)
  FROM candidates c CROSS JOIN water w
$$;

-- Weighted max-min fill, the engine of BID_WEIGHTED (and WATER_FILL when every weight is 1):
-- the level L >= 0 with sum(clamp(w_i * L, lo_i, hi_i)) = amount; each session with w_i > 0 gets
-- clamp(w_i * L, lo_i, hi_i), each with w_i = 0 (or NULL) gets lo_i. If the amount is more than
-- the sessions can take that way, the weighted ones are all at hi_i. If it is less than sum(lo)
-- (outside the contract), all get lo_i.
-- f(L) = sum(clamp(w_i * L, lo_i, hi_i)) is continuous, nondecreasing and linear between the
-- breakpoints lo_i/w_i (session i starts rising: slope +w_i, its constant lo_i leaves) and
-- hi_i/w_i (it stops: slope -w_i, its constant hi_i comes in). Sorted by breakpoint, running sums
-- give f's constant and slope just after each breakpoint p (ties included: the window frame takes
-- peers), so f(p) = const + slope * p. f(smallest p) = sum(lo) <= amount. L is on the segment of
-- the largest p with f(p) <= amount: L = p + (amount - f(p)) / slope; slope 0 there means past
-- the last breakpoint (every weighted session at hi): L = p. O(n log n), no iteration.
CREATE OR REPLACE FUNCTION allocate_weighted_fill(p_amount numeric, p_lo numeric[], p_hi numeric[],
  p_weight numeric[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  WITH sessions AS (
    SELECT i, lo, hi, greatest(coalesce(w, 0), 0) AS w
    FROM unnest(p_lo, p_hi, p_weight) WITH ORDINALITY AS u (lo, hi, w, i)
  ),
  breakpoints AS (
    SELECT lo / w AS at, w AS d_slope, -lo AS d_const FROM sessions WHERE w > 0
    UNION ALL
    SELECT hi / w, -w, hi FROM sessions WHERE w > 0
  ),
  curve AS (
    SELECT at,
           (SELECT sum(lo) FROM sessions) + sum(d_const) OVER by_at AS const,
           sum(d_slope) OVER by_at AS slope
    FROM breakpoints
    WINDOW by_at AS (ORDER BY at)
  ),
  water AS (
    SELECT at + CASE WHEN slope > 0 THEN (p_amount - (const + slope * at)) / slope ELSE 0 END AS level
    FROM curve
    WHERE const + slope * at <= p_amount
    ORDER BY at DESC
    LIMIT 1
  )
  -- Compared with the breakpoints themselves (not w * L with hi), so a session whose breakpoint
  -- is the level gets exactly lo or hi, whatever numeric's division rounded.
  SELECT array_agg(CASE
           WHEN s.w = 0 OR w.level IS NULL OR w.level <= s.lo / s.w THEN s.lo
           WHEN w.level >= s.hi / s.w THEN s.hi
           ELSE least(s.hi, greatest(s.lo, s.w * w.level))
         END ORDER BY s.i)
  FROM sessions s LEFT JOIN water w ON true
$$;

-- WATER_FILL itself: the closed form above when the minimums are rule 5's (one m), else the same
-- level through the weighted fill with every weight 1 (it handles any lo_i <= hi_i).
CREATE OR REPLACE FUNCTION allocate_water_fill(p_amount numeric, p_lo numeric[], p_hi numeric[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN (SELECT bool_and(u.lo = least(m.lo, u.hi))
          FROM unnest(p_lo, p_hi) AS u (lo, hi), (SELECT max(x) AS lo FROM unnest(p_lo) x) m)
      THEN allocate_water_fill_common_min(p_amount, p_lo, p_hi)
    ELSE allocate_weighted_fill(p_amount, p_lo, p_hi, array_fill(1::numeric, ARRAY[cardinality(p_lo)]))
  END
$$;

-- EQUAL_SHARE (the tutorial's rule, with its defects fixed): min(hi_i, max(lo_i, amount / n)).
-- Divided by the count n; the tutorial's NULLIF(count, 1) gave a lone session 3 kW. When some
-- minimums are above amount / n and the shares would then add up to more than the amount (a
-- vehicle's ev_min_kw), equal shares as far as the minimums allow: the water fill.
CREATE OR REPLACE FUNCTION allocate_equal_share(p_amount numeric, p_lo numeric[], p_hi numeric[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN sum(kw) <= p_amount THEN array_agg(kw ORDER BY i)
              ELSE allocate_water_fill(p_amount, p_lo, p_hi) END
  FROM (
    SELECT i, least(hi, greatest(lo, p_amount / nullif(cardinality(p_lo), 0))) AS kw
    FROM unnest(p_lo, p_hi) WITH ORDINALITY AS u (lo, hi, i)
  ) shares
$$;

-- BID_WEIGHTED (SPEC §10, the seed's "continuous auction"): above the minimums, the amount is
-- divided in proportion to the bids: weighted max-min, allocate_weighted_fill with w_i = bid_i
-- (USD/kWh). session_allocation passes the bid of each session, or the site's reserve price for
-- one without a bid (sites.reserve_bid_usd_kwh, NULL meaning the current tariff price). A bid of
-- 0 gets its minimum while a bidder can still take more; what is left once every bidder is at
-- its rated power goes to the zero bids, water-filled (nothing is wasted). No bid above 0 at all:
-- plain WATER_FILL. Equal bids: WATER_FILL.
CREATE OR REPLACE FUNCTION allocate_bid_weighted(p_amount numeric, p_lo numeric[], p_hi numeric[],
  p_bid numeric[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  WITH bidders AS (
    SELECT i, lo, hi, coalesce(bid, 0) > 0 AS bids, kw
    FROM unnest(p_lo, p_hi, p_bid, allocate_weighted_fill(p_amount, p_lo, p_hi, p_bid))
           WITH ORDINALITY AS u (lo, hi, bid, kw, i)
  ),
  saturated AS (
    -- A session at its breakpoint hi/w gets hi itself, so this is exact.
    SELECT coalesce(bool_and(kw >= hi) FILTER (WHERE bids), true) AS all_at_hi FROM bidders
  )
  SELECT CASE
    WHEN sat.all_at_hi THEN
      -- The bidders keep their share (lo = hi = kw, weight 0); the zero bids share the rest.
      allocate_weighted_fill(p_amount,
        array_agg(CASE WHEN b.bids THEN b.kw ELSE b.lo END ORDER BY b.i),
        array_agg(CASE WHEN b.bids THEN b.kw ELSE b.hi END ORDER BY b.i),
        array_agg(CASE WHEN b.bids THEN 0 ELSE 1 END::numeric ORDER BY b.i))
    ELSE array_agg(b.kw ORDER BY b.i)
  END
  FROM bidders b CROSS JOIN saturated sat
  GROUP BY sat.all_at_hi
$$;

-- DEADLINE (SPEC §10, energy-aware): needed rates first, then what has nothing cheaper to wait
-- for, then WATER_FILL of what the price target leaves.
--   needed_i  what session i must get now to finish by departure (session_allocation computes
--             it: remaining energy / hours left, less what strictly cheaper published hours
--             before departure can carry, capped at hi_i; hi_i once departure has passed; NULL
--             or 0 for a session without a departure or an energy request)
--   laxity_i  hours left - remaining / hi_i (NULL: no deadline, served last)
--   urgent_i  it has a deadline and no strictly cheaper published hour before it: holding its
--             energy back now saves nothing and risks the deadline (NULL array: none)
-- 1. The guarantee g_i = clamp(needed_i, lo_i, hi_i). Above the minimums (which admission already
--    fitted under the cap), the extra g_i - lo_i is granted in order of least laxity (then i)
--    while the hard cap lasts: the session where the cap runs out gets part of its extra, the
--    ones after it none.
-- 2. Urgent sessions then get the rest of their rate (hi_i - g_i), again in order of least
--    laxity, while the hard cap lasts: greedy least-laxity-first, the reference schedulers' best
--    rule, but only after every session's need is covered. (Water-filling this part, the
--    baseline, spread the capacity so thin that sessions reached departure short: 82.6 % of the
--    offline optimum at a tight limit against EDF's 95.9 %; docs/allocation.md.)
-- 3. The amount divided is max(amount, what 1-2 granted): the price tier (in the amount) never
--    throttles a guarantee or urgent energy, only the energy that can wait for a cheaper hour and
--    the sessions without a deadline. That rest is water-filled over every session with lo :=
--    what 1-2 granted (allocate_weighted_fill, weights 1): the sessions without a deadline share
--    it like WATER_FILL, and so do the sessions whose requested energy is delivered
--    (session_allocation gives them lo = 0 and no need: ENERGY_MET).
-- With no deadline at all it is exactly WATER_FILL. The sum is at most max(amount, sum lo) unless
-- the guarantees or urgent rates need more, and never more than the cap: 1-2 stop at max(cap,
-- sum lo), and the amount is at most the cap.
DROP FUNCTION IF EXISTS allocate_deadline(numeric, numeric, numeric[], numeric[], numeric[], numeric[]);
CREATE OR REPLACE FUNCTION allocate_deadline(p_amount numeric, p_cap numeric, p_lo numeric[], p_hi numeric[],
  p_needed numeric[], p_laxity numeric[], p_urgent boolean[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  WITH sessions AS (
    SELECT u.i, u.lo, u.hi, u.laxity, coalesce(p_urgent[u.i], false) AS urgent,
           least(u.hi, greatest(u.lo, coalesce(u.needed, 0))) - u.lo AS extra
    FROM unnest(p_lo, p_hi, p_needed, p_laxity) WITH ORDINALITY AS u (lo, hi, needed, laxity, i)
  ),
  guaranteed AS (
    SELECT i, lo, hi, laxity, urgent,
           lo + least(extra, greatest(0, p_cap - (SELECT sum(lo) FROM sessions)
             - coalesce(sum(extra) OVER (ORDER BY laxity NULLS LAST, i
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))) AS g
    FROM sessions
  ),
  urgent AS (
    SELECT i, hi,
           g + CASE WHEN NOT urgent THEN 0 ELSE least(hi - g, greatest(0, p_cap - (SELECT sum(g) FROM guaranteed)
             - coalesce(sum(CASE WHEN urgent THEN hi - g ELSE 0 END)
                          OVER (ORDER BY laxity NULLS LAST, i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))
           END AS g
    FROM guaranteed
  )
  SELECT allocate_weighted_fill(greatest(p_amount, sum(g)), array_agg(g ORDER BY i), array_agg(hi ORDER BY i),
                                array_fill(1::numeric, ARRAY[count(*)::int]))
  FROM urgent
$$;

-- What session_allocation calls for a policy it does not know: an error naming the policy and the
-- site, never a silent default division. (The sites_policy_values CHECK keeps unknown values out;
-- this is the guard for a value added there and not here.) STABLE, not VOLATILE, so that
-- session_allocation can still be inlined into its callers.
CREATE OR REPLACE FUNCTION allocation_policy_unknown(p_policy text, p_site_id text)
RETURNS numeric[]
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  RAISE EXCEPTION 'unknown allocation policy % at site %', p_policy, p_site_id
    USING ERRCODE = 'feature_not_supported',
          HINT = 'add allocate_<policy>() in sql/030_policies.sql and a WHEN in session_allocation';
END
$$;
