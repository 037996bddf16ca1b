// The typed events the change stream hands on: one per outbox row and per alert row change,
// grouped by the transaction that committed them.

import type { AlertEvent } from "../alerts/alerts.js";
import type { SetpointCommand } from "../setpoints/command.js";

export type { AlertEvent };
/** A command as the stream carries it: defined once in src/setpoints/command.ts. */
export type SetpointCommandEvent = SetpointCommand;

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
