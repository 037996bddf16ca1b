-- SPEC §3 rule 7: the allocation policies, one function each. session_allocation (040) calls the
-- site's policy once per site with the admitted sessions in session_id order.
--
-- The contract of a policy function allocate_<policy>(amount, lo, hi):
--   amount  what the site hands out: max(T, sum of lo), so amount >= sum(lo) always
--   lo, hi  the sessions' bounds (rule 5), element i belongs to the i-th session
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
CREATE OR REPLACE FUNCTION allocate_water_fill(p_amount numeric, p_lo numeric[], p_hi numeric[])
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

-- EQUAL_SHARE (the tutorial's rule, with its defects fixed): min(hi_i, max(lo_i, amount / n)).
-- Divided by the count n; the tutorial's NULLIF(count, 1) gave a lone session 3 kW.
CREATE OR REPLACE FUNCTION allocate_equal_share(p_amount numeric, p_lo numeric[], p_hi numeric[])
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(least(hi, greatest(lo, p_amount / nullif(cardinality(p_lo), 0))) ORDER BY i)
  FROM unnest(p_lo, p_hi) WITH ORDINALITY AS u (lo, hi, i)
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
