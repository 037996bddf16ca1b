-- Proposal P1: let PL/pgSQL keep ONE generic plan per statement instead of re-planning it on
-- every call. Under plan_cache_mode=auto the big recompute statements (session_allocation()
-- inlined into a CTE with five window functions, the alert CTE, the boundary INSERT) stay on
-- custom plans forever: a custom plan for `site_id = ANY ('{one-site}')` is always estimated
-- cheaper than the generic plan for `ANY ($1)` (10 elements assumed), so the plan cache never
-- switches, and every trigger call pays the planner for each of them.
-- In a migration this would be the SET clause of each CREATE FUNCTION; here (bench only) it is
-- applied to every PL/pgSQL function of the schema.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_language l ON l.oid = p.prolang
    WHERE n.nspname = 'public' AND l.lanname = 'plpgsql'
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET plan_cache_mode = force_generic_plan', f);
  END LOOP;
END
$$;
