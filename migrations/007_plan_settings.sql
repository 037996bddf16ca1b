-- Plan settings for the recompute path, measured in BENCHMARKS.md (bench/proposals/p1, p2):
-- * force_generic_plan: PL/pgSQL otherwise re-plans every statement of every trigger call with
--   the literal site array (80 % of a 20-sample batch went to planning); the generic plans use
--   the site_id index scans.
-- * random_page_cost = 1.1: the data is in memory; index probes are cheap. Without it the
--   planner hashes whole tables where a few index probes do.
-- Set per function, so nothing else in the database is affected.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_language l ON l.oid = p.prolang
    WHERE n.nspname = current_schema() AND l.lanname = 'plpgsql'
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1', f);
  END LOOP;
END
$$;
