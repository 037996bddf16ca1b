-- SPEC §10 "Capacity a car does not use" (limitedBy VEHICLE_DRAW), in every policy. A session
-- that has drawn less than its limit minus a margin for the site's hold time (and at least two
-- meter values) is capped at its draw plus the margin; session_allocation (040) takes the cap as
-- an upper bound (hi), so the policy hands what the car leaves to the others. The sum of the
-- setpoints still never exceeds C: the cap only lowers one bound.
--
-- The state lives on the session (migration 018): draw_short_since / draw_short_samples (the run
-- of "short" meter values so far) and draw_cap_kw (the cap in force, NULL: none). The session-
-- sample trigger (070) steps it with vehicle_draw_step once per applied sample (the newest sample
-- of a session in a batch, and only when it is newer than the stored one, so a late or replayed
-- sample never counts twice) and reallocates the site when the cap appears, moves or is lifted.
--
-- Decisions (docs/allocation.md, "Capacity a car does not use"):
-- * The cap applies at the meter value that proves the hold; the hold expiring with no new sample
--   is not a time boundary (a draw is only known from a meter value, and the second value of the
--   run is needed anyway).
-- * A sample taken before the session's last command says nothing about that command: it neither
--   extends nor breaks a run.
-- * The cap is lifted when the draw comes within half the margin of the limit the car has (the
--   lower of the cap and its command): right after capping the draw sits exactly a margin below
--   the cap, so "within the margin" would lift it at the next identical sample; a car that wants
--   more rises to its limit and clears half the margin at once.
-- * While capped, a draw that keeps falling (a tapering battery) lowers the cap to draw + margin
--   once that is at least the site's deadband lower, so the cap follows the taper without a
--   reallocation at every meter value.

-- The margin against a limit: max(margin_kw, margin_pct % of the limit).
CREATE OR REPLACE FUNCTION vehicle_draw_margin(p_limit numeric, p_margin_kw double precision,
  p_margin_pct double precision)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT greatest(p_margin_kw::numeric, coalesce(p_limit, 0) * p_margin_pct::numeric / 100)
$$;

-- One meter value's step of the draw state. In: the stored state, the sample (draw, taken at),
-- the session's last command (kW and when; NULL: never commanded), the site's settings. Out: the
-- new state. A sample without a power reading changes nothing.
CREATE OR REPLACE FUNCTION vehicle_draw_step(p_since timestamptz, p_samples integer, p_cap numeric,
  p_draw double precision, p_at timestamptz, p_commanded numeric, p_commanded_at timestamptz,
  p_margin_kw double precision, p_margin_pct double precision, p_hold_s integer, p_deadband double precision)
RETURNS TABLE (short_since timestamptz, short_samples integer, cap_kw numeric)
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN x.kind IN ('keep', 'stale') THEN p_since
              WHEN x.kind = 'run' THEN coalesce(p_since, p_at) END,
         CASE WHEN x.kind IN ('keep', 'stale') THEN p_samples
              WHEN x.kind = 'run' THEN p_samples + 1 ELSE 0 END,
         CASE x.kind
           WHEN 'keep' THEN p_cap
           WHEN 'stale' THEN p_cap
           WHEN 'lower' THEN x.draw + x.margin
           WHEN 'cap' THEN x.draw + x.margin
         END
  FROM (
    SELECT d.draw, d.margin, CASE
      WHEN d.draw IS NULL THEN 'keep'
      -- Capped: lifted once the draw is within half the margin of the limit it has; otherwise
      -- follows a falling draw down.
      WHEN p_cap IS NOT NULL THEN CASE
        WHEN d.draw >= d.lim - d.margin / 2 THEN 'lift'
        WHEN d.draw + d.margin <= p_cap - greatest(p_deadband::numeric, 0.01) THEN 'lower'
        ELSE 'keep' END
      -- Never commanded, or commanded 0: nothing to leave unused.
      WHEN coalesce(p_commanded, 0) <= 0 THEN 'reset'
      WHEN p_commanded_at IS NOT NULL AND p_at <= p_commanded_at THEN 'stale'
      WHEN d.draw >= d.lim - d.margin THEN 'reset'
      -- Short: the run grows; with at least two samples spanning the hold, the cap applies.
      WHEN p_samples + 1 >= 2 AND p_at - coalesce(p_since, p_at) >= make_interval(secs => p_hold_s) THEN 'cap'
      ELSE 'run'
    END AS kind
    FROM (
      SELECT CASE WHEN p_draw IS NOT NULL THEN greatest(0, p_draw)::numeric END AS draw, l.lim,
             vehicle_draw_margin(l.lim, p_margin_kw, p_margin_pct) AS margin
      FROM (SELECT CASE WHEN p_cap IS NOT NULL THEN least(p_cap, coalesce(p_commanded, p_cap))
                        ELSE p_commanded END AS lim) l
    ) d
  ) x
$$;
