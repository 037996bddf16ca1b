// `first`/`after` on lists that can be long (alerts, sessions, dead letters): checked once here.
// A cursor is the id of the last item received (opaque to clients; documented in docs/graphql.md).
import { badUserInput } from "../api/errors.js";
import { builder } from "./builder.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;

export interface Page {
  /** Rows to return (null: the whole list, as before first/after existed). */
  readonly first: number | null;
  readonly after: string | null;
}

/** Checks first (1..MAX_PAGE_SIZE) and after (when numeric ids are the cursor, digits only). */
export function checkPage(
  args: { first?: number | null; after?: string | null },
  options: { defaultFirst: number | null; numericCursor: boolean },
): Page {
  const first = args.first ?? options.defaultFirst;
  if (first !== null && (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE))
    throw badUserInput([{ field: "first", message: `must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${first}` }]);
  const after = args.after ?? null;
  if (
    after !== null &&
    (after.length === 0 || after.length > 200 || (options.numericCursor && !/^\d{1,19}$/.test(after)))
  )
    throw badUserInput([
      { field: "after", message: "must be a cursor this API returned (the id of the last item received)" },
    ]);
  return { first, after };
}

export interface PageInfo {
  endCursor: string | null;
  hasNextPage: boolean;
}

export const PageInfoRef = builder.objectRef<PageInfo>("PageInfo").implement({
  description: "Where a page ends: pass endCursor as `after` for the next page.",
  fields: (t) => ({
    endCursor: t.exposeString("endCursor", { nullable: true }),
    hasNextPage: t.exposeBoolean("hasNextPage"),
  }),
});

/** Rows fetched with limit first + 1: the page and whether more follow. */
export function toPage<T>(rows: T[], first: number, cursor: (row: T) => string): { nodes: T[]; pageInfo: PageInfo } {
  const nodes = rows.slice(0, first);
  const last = nodes.at(-1);
  return { nodes, pageInfo: { endCursor: last ? cursor(last) : null, hasNextPage: rows.length > first } };
}
