// Feed cursors (docs/feed.md): decimal strings of the commit-order position. Parsing and the two
// errors a cursor can meet; the API turns them into BAD_USER_INPUT and CURSOR_EXPIRED.

/** A cursor older than the retention: rows after it may have been pruned. Re-list, then watch. */
export class CursorExpiredError extends Error {
  constructor(
    readonly cursor: string,
    readonly horizon: string,
  ) {
    super(
      `cursor ${cursor} has expired: events up to ${horizon} were pruned (retention); re-list with setpointSnapshot, then watch from its cursor`,
    );
    this.name = "CursorExpiredError";
  }
}

/** A cursor that is not one: not a decimal number, or beyond every cursor handed out. */
export class InvalidCursorError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field} ${problem}`);
    this.name = "InvalidCursorError";
  }
}

const CURSOR = /^(0|[1-9][0-9]{0,18})$/;

/** The position a cursor string stands for; throws InvalidCursorError naming the field. */
export function parseCursor(value: string, field = "after"): bigint {
  if (!CURSOR.test(value) || BigInt(value) > 9_223_372_036_854_775_807n) {
    throw new InvalidCursorError(
      field,
      `must be a cursor from this service (a decimal number), got ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  return BigInt(value);
}
