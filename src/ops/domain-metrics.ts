// The domain on /metrics: per-site gauges read with one SQL query at scrape time (so they are
// right on every instance, whoever wrote the data), and the command counter and event-to-command
// latency observed by this process's live change stream.
import { sql } from "kysely";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Db } from "../db/pool.js";
import { ALERT_TYPES } from "../domain.js";
import type { ChangeTransaction } from "../stream/events.js";

interface SiteFigures {
  site_id: string;
  demand_kw: number | null;
  limit_kw: number | null;
  ev_load_kw: number | null;
  building_kw: number | null;
  ev_cap_kw: number | null;
  target_kw: number | null;
  curtailment_pct: number;
  price_tier: string;
  commanded_kw: number;
  active_sessions: number;
  alerts: Record<string, number> | null;
}

export interface DomainMetrics {
  /** Reads every site's figures (one query) into the gauges; sites gone since are dropped. */
  refresh(db: Db): Promise<void>;
  /** Counts the commands of a transaction of the live stream and observes their latency. */
  observe(tx: ChangeTransaction, now?: number): void;
}

export function createDomainMetrics(registry: Registry): DomainMetrics {
  const gauge = (name: string, help: string, labelNames: string[] = ["site"]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const site = {
    demand: gauge("scc_site_demand_kw", "Whole-site demand, newest sample"),
    limit: gauge("scc_site_limit_kw", "The site's demand limit"),
    evLoad: gauge("scc_site_ev_load_kw", "Measured EV load, newest sample"),
    building: gauge("scc_site_building_load_kw", "Demand less EV load"),
    evCap: gauge("scc_site_ev_cap_kw", "Hard cap C on the site's EV setpoints"),
    target: gauge("scc_site_target_kw", "Target T (the cap after price tier and DR)"),
    commanded: gauge("scc_site_commanded_kw", "Sum of the commanded setpoints of the site's sessions"),
    activeSessions: gauge("scc_site_active_sessions", "Sessions not ended"),
    curtailment: gauge("scc_site_curtailment_pct", "DR curtailment in force, percent (0: none)"),
    tier: gauge("scc_site_price_tier", "1 for the price tier in force", ["site", "tier"]),
    alerts: gauge("scc_site_alerts_active", "Active alerts by type", ["site", "type"]),
  };
  const commands = new Counter({
    name: "scc_commands_total",
    help: "Setpoint commands seen on this process's live change stream, by site",
    labelNames: ["site"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "scc_event_to_command_seconds",
    help: "From the start of the transaction that stored an event to its command reaching this process's fan-out",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const set = (g: Gauge, siteId: string, value: number | null) => {
    if (value !== null && Number.isFinite(value)) g.set({ site: siteId }, value);
  };

  return {
    async refresh(db) {
      const { rows } = await sql<SiteFigures>`
        SELECT st.site_id, st.current_demand_kw AS demand_kw, st.demand_limit_kw AS limit_kw, st.ev_load_kw,
               st.building_load_kw::float8 AS building_kw, st.ev_cap_kw::float8 AS ev_cap_kw,
               st.target_kw::float8 AS target_kw, st.curtailment_pct, st.price_tier,
               coalesce(sp.commanded_kw, 0)::float8 AS commanded_kw, coalesce(se.active, 0)::int AS active_sessions,
               al.alerts
        FROM sites st
        LEFT JOIN (SELECT site_id, sum(commanded_kw) AS commanded_kw FROM setpoints GROUP BY site_id) sp
          ON sp.site_id = st.site_id
        LEFT JOIN (SELECT site_id, count(*) AS active FROM sessions WHERE ended_at IS NULL GROUP BY site_id) se
          ON se.site_id = st.site_id
        LEFT JOIN (
          SELECT site_id, jsonb_object_agg(type, n) AS alerts
          FROM (SELECT site_id, type, count(*) AS n FROM alerts WHERE status = 'ACTIVE' GROUP BY site_id, type) a
          GROUP BY site_id
        ) al ON al.site_id = st.site_id
        ORDER BY st.site_id`.execute(db);
      for (const g of Object.values(site)) g.reset();
      for (const r of rows) {
        set(site.demand, r.site_id, r.demand_kw);
        set(site.limit, r.site_id, r.limit_kw);
        set(site.evLoad, r.site_id, r.ev_load_kw);
        set(site.building, r.site_id, r.building_kw);
        set(site.evCap, r.site_id, r.ev_cap_kw);
        set(site.target, r.site_id, r.target_kw);
        set(site.commanded, r.site_id, r.commanded_kw);
        set(site.activeSessions, r.site_id, r.active_sessions);
        set(site.curtailment, r.site_id, r.curtailment_pct);
        site.tier.set({ site: r.site_id, tier: r.price_tier }, 1);
        // Every type, 0 when none, so an alert rule can compare against 0.
        for (const type of ALERT_TYPES) site.alerts.set({ site: r.site_id, type }, r.alerts?.[type] ?? 0);
      }
    },
    observe(tx, now = Date.now()) {
      for (const event of tx.events) {
        if (event.kind !== "command") continue;
        commands.inc({ site: event.siteId });
        latency.observe(Math.max(0, now - event.createdAt.getTime()) / 1000);
      }
    },
  };
}
