// Raw-event inserts for SQL-level tests: the same tables and triggers the ingest path uses.
import type pg from "pg";

export const T0 = "2026-06-01T12:00:00Z";

export function at(offsetSeconds: number, base = T0): string {
  return new Date(Date.parse(base) + offsetSeconds * 1000).toISOString();
}

export async function setClock(pool: pg.Pool, iso: string | null, speed = 0): Promise<void> {
  await pool.query("SELECT set_clock($1, $2)", [iso, speed]);
}

export async function demand(
  pool: pg.Pool,
  site: string,
  d: { limit: number; current: number; ev: number; ts?: string; phaseCurrents?: number[] },
): Promise<void> {
  await pool.query(
    `INSERT INTO site_demand_raw (site_id, demand_limit_kw, current_demand_kw, ev_load_kw, measured_ts, phase_currents_a, source)
     VALUES ($1, $2, $3, $4, $5, $6, 'graphql')`,
    [site, d.limit, d.current, d.ev, d.ts ?? T0, d.phaseCurrents ?? null],
  );
}

export interface SampleSpec {
  session: string;
  site: string;
  rated: number;
  current?: number;
  start?: string;
  ts?: string;
  ended?: string;
  cp?: string;
  /** SPEC §9 priority (higher first); absent is unknown. */
  priority?: number;
  /** SPEC §9 bid_usd_kwh; absent is unknown (the site's reserve price applies). */
  bid?: number;
  /** SPEC §9 departure_ts; absent is unknown. */
  departure?: string;
  /** SPEC §9 requested_energy_kwh; absent is unknown. */
  requested?: number;
  /** energy_kwh delivered so far; absent is unknown. */
  energy?: number;
  /** SPEC §9 electrical model and OCPP transaction id; absent is unknown. */
  phases?: number;
  phase?: "L1" | "L2" | "L3";
  voltage?: number;
  transactionId?: string;
  connector?: number;
  /** SPEC §9 ev_max_kw, ev_min_kw (what the vehicle accepts); absent is unknown. */
  evMax?: number;
  evMin?: number;
}

export async function samples(pool: pg.Pool, specs: SampleSpec[]): Promise<void> {
  const values: unknown[] = [];
  const rows = specs.map((s, i) => {
    values.push(
      s.session,
      s.cp ?? `cp-${s.session}`,
      s.site,
      s.rated,
      s.current ?? 0,
      s.start ?? T0,
      s.ts ?? T0,
      s.ended ?? null,
      s.priority ?? null,
      s.bid ?? null,
      s.departure ?? null,
      s.requested ?? null,
      s.energy ?? null,
      s.phases ?? null,
      s.phase ?? null,
      s.voltage ?? null,
      s.transactionId ?? null,
      s.connector ?? 1,
      s.evMax ?? null,
      s.evMin ?? null,
    );
    const o = i * 20;
    return `($${o + 1}, $${o + 2}, $${o + 18}::integer, $${o + 3}, $${o + 4}, $${o + 5}, $${o + 6}, $${o + 7}, $${o + 8}::timestamptz, $${o + 9}::integer, $${o + 10}::double precision, $${o + 11}::timestamptz, $${o + 12}::double precision, $${o + 13}::double precision, $${o + 14}::integer, $${o + 15}::text, $${o + 16}::double precision, $${o + 17}::text, $${o + 19}::double precision, $${o + 20}::double precision, 'graphql')`;
  });
  await pool.query(
    `INSERT INTO session_samples_raw (session_id, charge_point_id, connector_id, site_id, rated_power_kw,
       current_power_kw, session_start_ts, sampled_ts, ended_ts, priority, bid_usd_kwh, departure_ts,
       requested_energy_kwh, energy_kwh, phases, phase, voltage_v, transaction_id, ev_max_kw, ev_min_kw, source) VALUES ${rows.join(", ")}`,
    values,
  );
}

export async function price(
  pool: pg.Pool,
  site: string,
  p: { tier: string; usd?: number; from: string; to: string; tariff?: string },
): Promise<void> {
  await pool.query(
    `INSERT INTO price_signals_raw (tariff_id, site_id, price_usd_kwh, price_tier, valid_from, valid_to, source)
     VALUES ($1, $2, $3, $4, $5, $6, 'graphql')`,
    [p.tariff ?? "tou", site, p.usd ?? 0.3, p.tier, p.from, p.to],
  );
}

export async function dr(
  pool: pg.Pool,
  site: string,
  d: { id?: string; pct: number; baseline?: number; start: string; end: string; signal?: string },
): Promise<void> {
  await pool.query(
    `INSERT INTO dr_signals_raw (dr_event_id, site_id, curtailment_pct, baseline_kw, event_start_ts, event_end_ts, signal_ts, source)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'graphql')`,
    [d.id ?? "dr-1", site, d.pct, d.baseline ?? 0, d.start, d.end, d.signal ?? d.start],
  );
}

export interface SetpointRow {
  session_id: string;
  setpoint_kw: number;
  commanded_kw: number | null;
  limited_by: string;
}

export async function setpointsOf(pool: pg.Pool, site: string): Promise<Record<string, SetpointRow>> {
  const { rows } = await pool.query<SetpointRow>(
    "SELECT session_id, setpoint_kw, commanded_kw, limited_by FROM setpoints WHERE site_id = $1 ORDER BY session_id",
    [site],
  );
  return Object.fromEntries(rows.map((r) => [r.session_id, r]));
}

export async function activeAlerts(pool: pg.Pool, site: string): Promise<string[]> {
  const { rows } = await pool.query<{ type: string; session_id: string | null }>(
    "SELECT type, session_id FROM alerts WHERE site_id = $1 AND status = 'ACTIVE' ORDER BY type, session_id",
    [site],
  );
  return rows.map((r) => (r.session_id ? `${r.type}:${r.session_id}` : r.type));
}

export async function commandsOf(pool: pg.Pool, session: string): Promise<number[]> {
  const { rows } = await pool.query<{ setpoint_kw: number }>(
    "SELECT setpoint_kw FROM setpoint_commands WHERE session_id = $1 ORDER BY seq",
    [session],
  );
  return rows.map((r) => r.setpoint_kw);
}
