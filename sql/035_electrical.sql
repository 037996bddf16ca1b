-- SPEC §9-§11, the electrical model and the OCPP side of a command (docs/ocpp.md):
--   effective_charge_point()      a charge point's settings, its defaults from the site, its lo
--   charger_limit(), limit_kw()   a kW amount as the charger's limit, rounded DOWN to its
--                                 granularity (0.1 A, 1 W), and that limit back in kW (rounded down)
--   allocate_with_phase_limits()  progressive filling under the site total and the per-phase limits
--   ocpp_set_charging_profile()   the SetChargingProfile request, OCPP 1.6 or 2.0.1
--   ocpp_command()                the request of one command (060 calls it for every outbox row)
--   refresh_failsafe()            the failsafe TxDefaultProfile limits of each site
-- session_allocation (040) calls the first four; it comes after this file, so the SQL-language
-- bodies there can be checked against these.

-- Whether a session with `phases` phases on `phase` loads grid phase `n` (1..3).
CREATE OR REPLACE FUNCTION on_phase(p_phases integer, p_phase text, n integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_phases = 3 OR p_phase IS NULL
      OR n = substr(p_phase, 2)::integer
      OR (p_phases = 2 AND n = substr(p_phase, 2)::integer % 3 + 1)
$$;

-- The settings in force for a session on a charge point: the charge point's own (configureChargePoint),
-- each unset one from the site; the session's phases and voltage (from its meter values) win over
-- the charge point's. `configured` is false for a charge point without a row: it is allocated in kW
-- as before (the site's min_rate_kw, 0.01 kW) and commanded in W. lo_kw is the charger's minimum
-- as power, minimum current x voltage x phases, for chargers in A (NULL otherwise).
-- a1..a3: the amps each kW of the session puts on grid phase L1..L3 (0 on a phase it does not
-- load). A 3-phase session loads all three; a 1-phase session its `phase` (a 2-phase one that
-- phase and the next); with the phase unknown it is counted on every phase (the safe side).
CREATE OR REPLACE FUNCTION effective_charge_point(st sites, cp charge_points, p_phases integer,
  p_phase text, p_voltage_v double precision)
RETURNS TABLE (
  configured boolean,
  ocpp_version text,
  unit text,
  phases integer,
  volts numeric,
  min_current_a numeric,
  granularity numeric,
  stack_level integer,
  purpose_mode text,
  failsafe_seconds integer,
  lo_kw numeric,
  a1 numeric,
  a2 numeric,
  a3 numeric
)
LANGUAGE sql IMMUTABLE AS $$
  SELECT x.configured, x.ocpp_version, x.unit, x.phases, x.volts, x.min_current_a,
         coalesce(cp.limit_granularity, CASE x.unit WHEN 'A' THEN 0.1 ELSE 1 END),
         coalesce(cp.stack_level, st.stack_level), coalesce(cp.profile_purpose, 'AUTO'),
         coalesce(cp.failsafe_seconds, st.failsafe_seconds),
         CASE WHEN x.configured AND x.unit = 'A' THEN x.min_current_a * x.volts * x.phases / 1000 END,
         CASE WHEN on_phase(x.phases, p_phase, 1) THEN k.per_kw ELSE 0 END,
         CASE WHEN on_phase(x.phases, p_phase, 2) THEN k.per_kw ELSE 0 END,
         CASE WHEN on_phase(x.phases, p_phase, 3) THEN k.per_kw ELSE 0 END
  FROM (SELECT cp.charge_point_id IS NOT NULL AS configured,
               coalesce(cp.ocpp_version, st.ocpp_version) AS ocpp_version,
               CASE WHEN cp.charge_point_id IS NULL THEN 'W'
                    ELSE coalesce(cp.charging_rate_unit, st.charging_rate_unit) END AS unit,
               coalesce(p_phases, cp.phases, st.phases) AS phases,
               coalesce(p_voltage_v, cp.voltage_v, st.voltage_v)::numeric AS volts,
               coalesce(cp.min_current_a, st.min_current_a)::numeric AS min_current_a) x
  CROSS JOIN LATERAL (SELECT 1000 / (x.volts * x.phases) AS per_kw) k
$$;

-- A kW amount as the charger's limit in its own unit, rounded DOWN to the granularity: amps
-- (per phase) = kW x 1000 / (voltage x phases); watts = kW x 1000 after rounding the kW down to
-- 0.01 (so limit_kw(watts) is the setpoint exactly). The 1e-9 absorbs numeric division's last
-- digit (6 A x 230 V x 3 / 1000 kW must give 6.0 A, not 5.9). trim_scale: 6.1, not 6.100.
CREATE OR REPLACE FUNCTION charger_limit(p_kw numeric, p_unit text, p_volts numeric, p_phases integer,
  p_granularity numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT trim_scale(greatest(0, floor(
    CASE WHEN p_unit = 'A' THEN p_kw * 1000 / (p_volts * p_phases)
         ELSE floor(p_kw * 100) / 100 * 1000 END / p_granularity + 1e-9) * p_granularity))
$$;

-- A charger limit back in kW, rounded down to 0.01 (rule 8): never more than the charger draws.
CREATE OR REPLACE FUNCTION limit_kw(p_limit numeric, p_unit text, p_volts numeric, p_phases integer)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT floor(CASE WHEN p_unit = 'A' THEN p_limit * p_volts * p_phases ELSE p_limit END / 10) / 100
$$;

-- SPEC §10 "Per-phase limits": max-min fair division under every constraint at once (progressive
-- filling). As in WATER_FILL, a session gets clamp(L, lo_i, hi_i) for a level L that rises from 0;
-- the constraints are the site total (p_amount) and each grid phase's available current p_avail[p]
-- (session i puts a_p[i] amps per kW on phase p). Between breakpoints (a lo_i or hi_i) every
-- load is linear in L, so the next event is the nearest breakpoint or the level at which a
-- constraint fills; the sessions on a full constraint are frozen where they are, the others rise
-- on. At most 2n + 4 rounds, each O(n). p_amount NULL: no total bound (another policy's shares,
-- passed as p_hi, already respect it). phase_limited[i]: a full phase froze session i below hi_i
-- (limitedBy PHASE_LIMIT). Admission (040) made the minimums fit.
CREATE OR REPLACE FUNCTION allocate_with_phase_limits(p_amount numeric, p_lo numeric[], p_hi numeric[],
  p_a1 numeric[], p_a2 numeric[], p_a3 numeric[], p_avail numeric[],
  OUT kw numeric[], OUT phase_limited boolean[])
LANGUAGE plpgsql IMMUTABLE
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  n integer := coalesce(cardinality(p_lo), 0);
  eps constant numeric := 1e-9;
  frozen boolean[];
  lvl numeric := 0;
  nxt numeric;
  cand numeric;
  load numeric[];     -- 0: the site total, 1..3: the phases (amps), at the current level
  slope numeric[];
  lim numeric[];
  coef numeric;
  binding boolean[];
  i integer;
  c integer;
  rounds integer := 0;
BEGIN
  kw := p_lo;
  frozen := array_fill(false, ARRAY[n]);
  phase_limited := array_fill(false, ARRAY[n]);
  IF n = 0 THEN RETURN; END IF;
  lim := ARRAY[coalesce(p_amount, 'Infinity'::numeric), p_avail[1], p_avail[2], p_avail[3]];
  LOOP
    rounds := rounds + 1;
    EXIT WHEN rounds > 2 * n + 4;
    -- Loads at the current level, their slopes, and the next breakpoint of an unfrozen session.
    load := ARRAY[0, 0, 0, 0]::numeric[];
    slope := ARRAY[0, 0, 0, 0]::numeric[];
    nxt := NULL;
    FOR i IN 1..n LOOP
      IF NOT frozen[i] THEN kw[i] := least(p_hi[i], greatest(p_lo[i], lvl)); END IF;
      FOR c IN 1..4 LOOP
        coef := CASE c WHEN 1 THEN 1 WHEN 2 THEN p_a1[i] WHEN 3 THEN p_a2[i] ELSE p_a3[i] END;
        load[c] := load[c] + coef * kw[i];
        IF NOT frozen[i] AND p_lo[i] <= lvl AND lvl < p_hi[i] THEN slope[c] := slope[c] + coef; END IF;
      END LOOP;
      IF NOT frozen[i] THEN
        IF p_lo[i] > lvl THEN nxt := least(nxt, p_lo[i]); END IF;
        IF p_hi[i] > lvl THEN nxt := least(nxt, p_hi[i]); END IF;
      END IF;
    END LOOP;
    EXIT WHEN nxt IS NULL;             -- every unfrozen session is at its hi: done
    FOR c IN 1..4 LOOP
      IF slope[c] > 0 THEN
        cand := lvl + greatest(0, lim[c] - load[c]) / slope[c];
        IF cand < nxt THEN nxt := cand; END IF;
      END IF;
    END LOOP;
    lvl := nxt;
    -- Which constraints are full at the new level; freeze their sessions (and those at hi).
    binding := ARRAY[false, false, false, false];
    FOR c IN 1..4 LOOP
      load[c] := 0;
    END LOOP;
    FOR i IN 1..n LOOP
      IF NOT frozen[i] THEN kw[i] := least(p_hi[i], greatest(p_lo[i], lvl)); END IF;
      load[1] := load[1] + kw[i];
      load[2] := load[2] + p_a1[i] * kw[i];
      load[3] := load[3] + p_a2[i] * kw[i];
      load[4] := load[4] + p_a3[i] * kw[i];
    END LOOP;
    FOR c IN 1..4 LOOP
      binding[c] := load[c] >= lim[c] - eps;
    END LOOP;
    FOR i IN 1..n LOOP
      IF NOT frozen[i] THEN
        IF kw[i] >= p_hi[i] THEN
          frozen[i] := true;
        ELSIF binding[1] THEN
          frozen[i] := true;
        ELSIF (binding[2] AND p_a1[i] > 0) OR (binding[3] AND p_a2[i] > 0) OR (binding[4] AND p_a3[i] > 0) THEN
          frozen[i] := true;
          phase_limited[i] := true;
        END IF;
      END IF;
    END LOOP;
  END LOOP;
END
$$;

-- The OCPP timestamp: UTC, milliseconds, Z.
-- STABLE as to_char is: an IMMUTABLE wrapper around a STABLE call would not be inlined.
CREATE OR REPLACE FUNCTION ocpp_timestamp(p_at timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The SetChargingProfile request (SPEC §11 "OCPP-ready"), valid against the OCA JSON schemas:
-- kind Absolute with startSchedule, one period at startPeriod 0 with the limit (a multiple of
-- 0.1) and numberPhases, minChargingRate, validTo when given (commands: command time + failsafe
-- horizon). Purpose TxProfile with the transaction id when one is usable for the version (1.6: an
-- integer; 2.0.1: a string), else TxDefaultProfile. 1.6: connectorId + csChargingProfiles;
-- 2.0.1: evseId + chargingProfile with a chargingSchedule array. NULLs are left out.
-- A table function (one row), not a scalar one: a scalar SQL function with a FROM clause is never
-- inlined and ran as a query of its own per command (measured: most of the request's cost); this
-- one is inlined into its caller's plan (ocpp_command, called LATERAL per outbox row).
DROP FUNCTION IF EXISTS ocpp_set_charging_profile(text, integer, integer, integer, text, text, numeric, integer,
  numeric, timestamptz, timestamptz);
CREATE OR REPLACE FUNCTION ocpp_set_charging_profile(p_version text, p_connector_id integer, p_profile_id integer,
  p_stack_level integer, p_transaction_id text, p_unit text, p_limit numeric, p_phases integer,
  p_min_rate numeric, p_start timestamptz, p_valid_to timestamptz)
RETURNS TABLE (request jsonb)
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_version = 'V201' THEN
    jsonb_build_object('evseId', p_connector_id, 'chargingProfile', jsonb_strip_nulls(jsonb_build_object(
      'id', p_profile_id,
      'stackLevel', p_stack_level,
      'chargingProfilePurpose', CASE WHEN tx.v201 IS NULL THEN 'TxDefaultProfile' ELSE 'TxProfile' END,
      'chargingProfileKind', 'Absolute',
      'validTo', ocpp_timestamp(p_valid_to),
      'transactionId', tx.v201,
      'chargingSchedule', jsonb_build_array(jsonb_build_object(
        'id', p_profile_id,
        'startSchedule', ocpp_timestamp(p_start),
        'chargingRateUnit', p_unit,
        'chargingSchedulePeriod', jsonb_build_array(jsonb_build_object(
          'startPeriod', 0, 'limit', p_limit, 'numberPhases', p_phases)),
        'minChargingRate', p_min_rate)))))
  ELSE
    jsonb_build_object('connectorId', p_connector_id, 'csChargingProfiles', jsonb_strip_nulls(jsonb_build_object(
      'chargingProfileId', p_profile_id,
      'transactionId', tx.v16,
      'stackLevel', p_stack_level,
      'chargingProfilePurpose', CASE WHEN tx.v16 IS NULL THEN 'TxDefaultProfile' ELSE 'TxProfile' END,
      'chargingProfileKind', 'Absolute',
      'validTo', ocpp_timestamp(p_valid_to),
      'chargingSchedule', jsonb_build_object(
        'startSchedule', ocpp_timestamp(p_start),
        'chargingRateUnit', p_unit,
        'chargingSchedulePeriod', jsonb_build_array(jsonb_build_object(
          'startPeriod', 0, 'limit', p_limit, 'numberPhases', p_phases)),
        'minChargingRate', p_min_rate))))
  END
  FROM (SELECT CASE WHEN p_transaction_id ~ '^-?[0-9]{1,9}$' THEN p_transaction_id::integer END AS v16,
               p_transaction_id AS v201) tx
$$;

-- The profile ids: stable per connector, so a new command's profile replaces the last one; the
-- failsafe profile has its own id (and a lower stack level) so it stays installed underneath.
CREATE OR REPLACE FUNCTION command_profile_id(p_connector_id integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 10000 + p_connector_id $$;
CREATE OR REPLACE FUNCTION failsafe_profile_id(p_connector_id integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 20000 + p_connector_id $$;

-- The minimum charging rate in the charger's unit: its minimum current (A), or the session's lo
-- (W: the site's min_rate_kw, at most the rated power), rounded down to 0.1.
CREATE OR REPLACE FUNCTION min_charging_rate(p_unit text, p_min_current_a numeric, p_lo_kw numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT trim_scale(floor(CASE WHEN p_unit = 'A' THEN p_min_current_a ELSE p_lo_kw * 1000 END * 10) / 10)
$$;

-- One command's OCPP version and request. p_limit is the limit session_allocation computed (in the
-- charger's unit); NULL (a final SESSION_ENDED command) derives it from the kW. Called once per
-- outbox row by recompute_sites (060), so the outbox, the change stream, GraphQL and Kafka carry
-- the same bytes.
CREATE OR REPLACE FUNCTION ocpp_command(p_session_id text, p_charge_point_id text, p_connector_id integer,
  p_site_id text, p_setpoint_kw numeric, p_limit numeric, p_at timestamptz)
RETURNS TABLE (ocpp_version text, ocpp_request jsonb)
LANGUAGE sql STABLE AS $$
  SELECT e.ocpp_version, r.request
  FROM sites st
  LEFT JOIN sessions s ON s.session_id = p_session_id
  LEFT JOIN charge_points cp ON cp.charge_point_id = p_charge_point_id
  CROSS JOIN LATERAL effective_charge_point(st, cp, s.phases, s.phase, s.voltage_v) e
  CROSS JOIN LATERAL ocpp_set_charging_profile(e.ocpp_version, p_connector_id, command_profile_id(p_connector_id),
           e.stack_level, CASE WHEN e.purpose_mode = 'AUTO' THEN s.transaction_id END, e.unit,
           coalesce(p_limit, charger_limit(p_setpoint_kw, e.unit, e.volts, e.phases, e.granularity)),
           e.phases,
           min_charging_rate(e.unit, e.min_current_a, least(st.min_rate_kw::numeric, s.rated_power_kw::numeric)),
           p_at, p_at + make_interval(secs => e.failsafe_seconds)) r
  WHERE st.site_id = p_site_id
$$;

-- SPEC §11 "Failsafe": per site, a TxDefaultProfile per connector ever seen there, for the CPMS
-- to install at a stack level below the commands' (stack level - 1, at least 0) and with its own
-- profile id, so that when the coordinator or the link to it is lost and the commands' profiles
-- expire (validTo), the connectors together stay under the site's hard cap C. Connectors are
-- admitted in (charge point, connector) order while their minimums fit in C; the admitted share
-- what is left above the minimums equally; the rest get 0. Rebuilt when the cap, the connectors
-- or their settings change (a fingerprint of the limits); a change bumps `version`, which the
-- failsafe publisher sends to Kafka.
CREATE OR REPLACE FUNCTION refresh_failsafe(p_sites text[], t timestamptz) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET random_page_cost = 1.1
AS $$
DECLARE
  due text[];
  changed integer;
BEGIN
  -- Only sites whose cap moved, or whose connectors or settings changed (those set cap_kw NULL).
  SELECT array_agg(st.site_id ORDER BY st.site_id) INTO due
  FROM sites st LEFT JOIN site_failsafe f ON f.site_id = st.site_id
  WHERE st.site_id = ANY (p_sites) AND st.measured_ts IS NOT NULL
    AND (f.site_id IS NULL OR f.cap_kw IS DISTINCT FROM coalesce(st.ev_cap_kw, 0));
  IF due IS NULL THEN RETURN; END IF;

  WITH conn AS (
    SELECT c.site_id, c.charge_point_id, c.connector_id, e.*, coalesce(st.ev_cap_kw, 0) AS cap,
           coalesce(e.lo_kw, 0) AS lo,
           sum(coalesce(e.lo_kw, 0)) OVER (PARTITION BY c.site_id ORDER BY c.charge_point_id, c.connector_id)
             AS lo_run
    FROM connectors c
    JOIN sites st ON st.site_id = c.site_id
    LEFT JOIN charge_points cp ON cp.charge_point_id = c.charge_point_id
    CROSS JOIN LATERAL effective_charge_point(st, cp, NULL, NULL, NULL) e
    WHERE c.site_id = ANY (due)
  ),
  admitted AS (
    SELECT conn.*, lo_run <= cap AS admitted,
           count(*) FILTER (WHERE lo_run <= cap) OVER (PARTITION BY site_id) AS k,
           sum(lo) FILTER (WHERE lo_run <= cap) OVER (PARTITION BY site_id) AS lo_sum
    FROM conn
  ),
  limits AS (
    SELECT admitted.*, charger_limit(x.kw, unit, volts, phases, granularity) AS lim
    FROM admitted
    CROSS JOIN LATERAL (SELECT CASE WHEN admitted THEN lo + (cap - lo_sum) / k ELSE 0 END AS kw) x
  ),
  per_site AS (
    SELECT site_id, min(cap) AS cap,
           md5(string_agg(concat_ws('/', charge_point_id, connector_id, ocpp_version, unit, lim, phases,
                                    stack_level), ',' ORDER BY charge_point_id, connector_id)) AS fingerprint,
           jsonb_agg(jsonb_build_object(
             'chargePointId', charge_point_id,
             'connectorId', connector_id,
             'ocppVersion', ocpp_version,
             'chargingRateUnit', unit,
             'limit', lim,
             'limitKw', limit_kw(lim, unit, volts, phases),
             'numberPhases', phases,
             'stackLevel', greatest(0, stack_level - 1),
             'ocppRequest', (SELECT r.request
                             FROM ocpp_set_charging_profile(ocpp_version, connector_id, failsafe_profile_id(connector_id),
                               greatest(0, stack_level - 1), NULL, unit, lim, phases,
                               min_charging_rate(unit, min_current_a, 0), t, NULL) r))
             ORDER BY charge_point_id, connector_id) AS profiles
    FROM limits
    GROUP BY site_id
  ),
  upserted AS (
    INSERT INTO site_failsafe AS f (site_id, cap_kw, fingerprint, profiles, updated_at)
    SELECT site_id, cap, fingerprint, profiles, t FROM per_site ORDER BY site_id
    ON CONFLICT (site_id) DO UPDATE
    SET cap_kw = excluded.cap_kw, fingerprint = excluded.fingerprint, profiles = excluded.profiles,
        updated_at = excluded.updated_at,
        version = f.version + (f.fingerprint IS DISTINCT FROM excluded.fingerprint)::integer
    WHERE f.fingerprint IS DISTINCT FROM excluded.fingerprint OR f.cap_kw IS DISTINCT FROM excluded.cap_kw
    RETURNING f.version, f.published_version
  )
  SELECT count(*) INTO changed FROM upserted WHERE version > published_version;
  IF changed > 0 THEN
    PERFORM pg_notify('scc_failsafe', '');
  END IF;
END
$$;
