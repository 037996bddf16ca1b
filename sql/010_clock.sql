-- The one clock (SPEC §3: "all time-dependent SQL reads one clock function"). With no
-- clock_setting row app_now() is the transaction time; with one, virtual time runs from
-- virtual_base at `speed` times real time (speed 0 stops it). Tests and the simulator drive it
-- with set_clock().

CREATE OR REPLACE FUNCTION app_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT c.virtual_base + (now() - c.real_base) * c.speed FROM clock_setting c),
    now())
$$;

-- Sets the clock: virtual time `p_at` from now on, running at `p_speed` (1 = real time, 0 = frozen).
-- NULL p_at returns to the real clock.
CREATE OR REPLACE FUNCTION set_clock(p_at timestamptz, p_speed double precision DEFAULT 1) RETURNS timestamptz
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
BEGIN
  IF p_at IS NULL THEN
    DELETE FROM clock_setting;
  ELSE
    INSERT INTO clock_setting (singleton, virtual_base, real_base, speed)
    VALUES (true, p_at, now(), p_speed)
    ON CONFLICT (singleton) DO UPDATE
    SET virtual_base = excluded.virtual_base, real_base = excluded.real_base, speed = excluded.speed;
  END IF;
  PERFORM pg_notify('scc_boundary', '');
  RETURN app_now();
END
$$;

-- Seconds of real time until the next boundary (NULL: none known). Virtual time at speed s
-- reaches a boundary d virtual seconds away after d/s real seconds.
CREATE OR REPLACE FUNCTION seconds_to_next_boundary() RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN c.speed = 0 THEN NULL
    ELSE greatest(0, extract(epoch FROM (SELECT min(next_boundary_at) FROM sites) - app_now())) / c.speed
  END
  FROM (SELECT coalesce((SELECT speed FROM clock_setting), 1) AS speed) c
$$;
