// The typed events the change stream hands on: one per outbox row and per alert row change,
// grouped by the transaction that committed them.

/** One row of setpoint_commands (the outbox), as inserted. */
export interface SetpointCommandEvent {
  kind: "command";
  /** bigserial, as a string (int8 does not fit a JS number in general). */
  seq: string;
  commandId: string;
  sessionId: string;
  siteId: string;
  chargePointId: string;
  connectorId: number;
  setpointKw: number;
  previousKw: number | null;
  limitedBy: string;
  ratedPowerKw: number;
  currentPowerKw: number | null;
  socPct: number | null;
  priceTier: string;
  curtailmentPct: number;
  commandTs: Date;
}

/** The new state of one alerts row (inserted when raised, updated while it holds and on clear). */
export interface AlertEvent {
  kind: "alert";
  /** bigserial, as a string. */
  id: string;
  type: string;
  siteId: string;
  sessionId: string | null;
  status: "ACTIVE" | "CLEARED";
  raisedAt: Date;
  updatedAt: Date;
  clearedAt: Date | null;
  message: string;
}

export type ChangeEvent = SetpointCommandEvent | AlertEvent;

export interface ChangeTransaction {
  /** LSN of the transaction's commit record ('X/Y'). */
  commitLsn: string;
  /**
   * End LSN of the transaction (the end of its commit record). This is the position the stream
   * reports as flushed once onTransaction resolved: PostgreSQL skips, on the next start, exactly
   * the transactions whose commit record starts before the confirmed position, so confirming
   * commitLsn itself would redeliver this transaction.
   */
  endLsn: string;
  commitTime: Date;
  events: ChangeEvent[];
}
