// The metrics of bounded storage, registered on the app's registry (src/ops/metrics.ts builds it).
import { Counter, Gauge, type Registry } from "prom-client";

export interface StorageMetrics {
  readonly partitionsCreated: Counter<"table">;
  readonly partitionsDropped: Counter<"table">;
  readonly rowsDeleted: Counter<"table">;
  readonly tableBytes: Gauge<"table">;
  readonly lastRun: Gauge;
  readonly failures: Counter;
  readonly slotInactiveSeconds: Gauge<"slot">;
  readonly slotRetainedBytes: Gauge<"slot">;
  readonly slotsDropped: Counter<"slot">;
}

export function createStorageMetrics(registry: Registry): StorageMetrics {
  const registers = [registry];
  return {
    partitionsCreated: new Counter({
      name: "scc_retention_partitions_created_total",
      help: "Partitions created ahead by the retention job, by table",
      labelNames: ["table"],
      registers,
    }),
    partitionsDropped: new Counter({
      name: "scc_retention_partitions_dropped_total",
      help: "Partitions dropped because all their rows were older than the table's retention, by table",
      labelNames: ["table"],
      registers,
    }),
    rowsDeleted: new Counter({
      name: "scc_retention_rows_deleted_total",
      help: "Rows deleted by retention from tables that are not partitioned (cleared alerts), by table",
      labelNames: ["table"],
      registers,
    }),
    tableBytes: new Gauge({
      name: "scc_table_bytes",
      help: "Bytes of each bounded table (all partitions and indexes), at the last retention pass",
      labelNames: ["table"],
      registers,
    }),
    lastRun: new Gauge({
      name: "scc_retention_last_success_timestamp_seconds",
      help: "Unix time of the last successful retention pass",
      registers,
    }),
    failures: new Counter({
      name: "scc_retention_failures_total",
      help: "Retention passes that failed (retried at the next interval)",
      registers,
    }),
    slotInactiveSeconds: new Gauge({
      name: "scc_replication_slot_inactive_seconds",
      help: "How long a durable replication slot of ours has not been read (0 while read)",
      labelNames: ["slot"],
      registers,
    }),
    slotRetainedBytes: new Gauge({
      name: "scc_replication_slot_retained_wal_bytes",
      help: "WAL a durable replication slot of ours keeps on disk (from its restart_lsn)",
      labelNames: ["slot"],
      registers,
    }),
    slotsDropped: new Counter({
      name: "scc_replication_slots_dropped_total",
      help: "Durable replication slots dropped as abandoned (ABANDONED_SLOT_DROP_MINUTES)",
      labelNames: ["slot"],
      registers,
    }),
  };
}
