// Prometheus metrics: one registry per app (no global state), default process metrics included.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { createDomainMetrics, type DomainMetrics } from "./domain-metrics.js";

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"route" | "status">;
  readonly httpDuration: Histogram<"route">;
  readonly httpInFlight: Gauge;
  readonly graphqlOperations: Counter<"type" | "outcome">;
  readonly streamState: Gauge<"reader">;
  readonly streamTransactions: Counter<"reader">;
  readonly slotLagBytes: Gauge<"slot">;
  readonly slotRecreations: Counter<"slot">;
  readonly subscribers: Gauge;
  readonly subscribersClosedTooSlow: Gauge;
  readonly boundarySitesRecomputed: Counter;
  /** Per-site figures, commands and event-to-command latency (src/ops/domain-metrics.ts). */
  readonly domain: DomainMetrics;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics: Metrics = {
    registry,
    httpRequests: new Counter({
      name: "scc_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["route", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "scc_http_request_duration_seconds",
      help: "HTTP request duration",
      labelNames: ["route"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    httpInFlight: new Gauge({
      name: "scc_http_requests_in_flight",
      help: "HTTP requests being answered (stop() waits for them, up to SHUTDOWN_DRAIN_MS)",
      registers: [registry],
    }),
    graphqlOperations: new Counter({
      name: "scc_graphql_operations_total",
      help: "GraphQL operations by type and outcome",
      labelNames: ["type", "outcome"],
      registers: [registry],
    }),
    streamState: new Gauge({
      name: "scc_stream_up",
      help: "1 while the change stream reader is streaming",
      labelNames: ["reader"],
      registers: [registry],
    }),
    streamTransactions: new Counter({
      name: "scc_stream_transactions_total",
      help: "Transactions handed on by the change stream",
      labelNames: ["reader"],
      registers: [registry],
    }),
    slotLagBytes: new Gauge({
      name: "scc_replication_slot_lag_bytes",
      help: "WAL retained by a replication slot (current WAL position minus confirmed flush)",
      labelNames: ["slot"],
      registers: [registry],
    }),
    slotRecreations: new Counter({
      name: "scc_replication_slot_recreations_total",
      help: "Durable replication slots found lost and recreated",
      labelNames: ["slot"],
      registers: [registry],
    }),
    subscribers: new Gauge({
      name: "scc_subscribers",
      help: "Live subscriptions in this process",
      registers: [registry],
    }),
    subscribersClosedTooSlow: new Gauge({
      name: "scc_subscribers_closed_too_slow_total",
      help: "Subscriptions closed because they fell too far behind",
      registers: [registry],
    }),
    boundarySitesRecomputed: new Counter({
      name: "scc_boundary_sites_recomputed_total",
      help: "Sites recomputed by the scheduler at a time boundary",
      registers: [registry],
    }),
    domain: createDomainMetrics(registry),
  };
  return metrics;
}
