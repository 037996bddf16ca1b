-- Proposal P2: tell the planner that index probes are cheap. The whole working set (sessions,
-- setpoints, sites) sits in shared_buffers, but with the default random_page_cost = 4 the planner
-- prices 1,000 primary-key probes above hashing the WHOLE sessions table, so a batch of 1,000
-- samples at 1,000 sites runs two Hash Joins over a Seq Scan of all sessions (the "reallocate"
-- check of on_session_samples) - O(fleet) work per batch - while at 10,000 sites the same
-- statement flips to index probes. random_page_cost = 1.1 (the usual SSD / in-memory value) makes
-- the O(batch) plan win at every fleet size. In a migration: ALTER DATABASE ... SET, or a SET
-- clause on the trigger functions; rewriting the lookup as LEFT JOIN LATERAL (... LIMIT 1) pins
-- the plan regardless of settings.
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET random_page_cost = 1.1', current_database());
END
$$;
