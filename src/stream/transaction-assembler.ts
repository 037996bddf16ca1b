// pgoutput messages -> committed transactions of typed change events. Pure: no I/O, no clock.
//
// Begin opens a transaction; Insert and Update of a mapped table add an event (src/stream/
// mapping.ts); Commit closes it and yields it, with its commit and end LSNs. Everything else
// (Relation, Type, Origin, Delete, Truncate, logical messages, rows of unmapped tables) is
// ignored: the decoder has already cached the relations. A transaction that touched no mapped row
// is still yielded (with no events): its end LSN can be acknowledged.
import type { ChangeEvent, ChangeTransaction } from "./events.js";
import { toChangeEvent } from "./mapping.js";
import type { PgOutputMessage } from "./pgoutput.js";

export class TransactionAssembler {
  /** The events of the open transaction; null outside one. */
  private open: ChangeEvent[] | null = null;

  /** Between a Begin and its Commit. */
  get inTransaction(): boolean {
    return this.open !== null;
  }

  /**
   * Feeds one message; returns the transaction a Commit completes, otherwise null. A change or a
   * Commit outside a transaction throws (the stream is out of step: reconnect). A Begin while a
   * transaction is open discards the partial one.
   */
  accept(msg: PgOutputMessage): ChangeTransaction | null {
    switch (msg.tag) {
      case "begin":
        this.open = [];
        return null;
      case "insert":
      case "update": {
        if (!this.open) throw new Error(`pgoutput: ${msg.tag} outside a transaction`);
        const event = toChangeEvent(msg.relation, msg.new);
        if (event) this.open.push(event);
        return null;
      }
      case "commit": {
        if (!this.open) throw new Error("pgoutput: commit outside a transaction");
        const tx: ChangeTransaction = {
          commitLsn: msg.commitLsn,
          endLsn: msg.endLsn,
          commitTime: msg.commitTime,
          events: this.open,
        };
        this.open = null;
        return tx;
      }
      default:
        return null; // relation (cached by the decoder), type, origin, delete, truncate, message
    }
  }

  /** Forgets a partly received transaction (a new connection starts over). */
  reset(): void {
    this.open = null;
  }
}
