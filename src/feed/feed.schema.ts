// The feed's queries (docs/feed.md): setpointSnapshot (list, then watch from its cursor) and the
// commands connection (past commands by cursor), both limited to the caller's sites.
import { requireOperation, siteScope } from "../access/access.js";
import { badUserInput, feedError } from "../api/errors.js";
import { builder } from "../graphql/builder.js";
import { PageInfoRef } from "../graphql/pagination.js";
import type { SetpointCommand } from "../setpoints/command.js";
import { findSetpoints } from "../setpoints/setpoints.repository.js";
import { SetpointCommandRef, type SetpointModel, SetpointRef } from "../setpoints/setpoints.schema.js";
import { parseCursor } from "./cursor.js";
import { checkCursor, feedHead, feedHorizon, readCommands } from "./feed.repository.js";

/** The largest page of the commands connection. */
export const MAX_COMMANDS_PAGE = 1000;

interface Snapshot {
  cursor: string;
  setpoints: SetpointModel[];
}

interface CommandPage {
  nodes: SetpointCommand[];
  endCursor: string | null;
  hasNextPage: boolean;
}

const SnapshotRef = builder.objectRef<Snapshot>("SetpointSnapshot").implement({
  description:
    "The current setpoints and the feed cursor they are current as of: subscribe to setpointChanged with after: cursor and nothing is missed (list, then watch).",
  fields: (t) => ({
    cursor: t.exposeString("cursor"),
    setpoints: t.field({ type: [SetpointRef], resolve: (s) => s.setpoints }),
  }),
});

const ConnectionRef = builder.objectRef<CommandPage>("SetpointCommandConnection").implement({
  description: "Past setpoint commands in cursor (commit) order.",
  fields: (t) => ({
    nodes: t.field({ type: [SetpointCommandRef], resolve: (p) => p.nodes }),
    pageInfo: t.field({
      type: PageInfoRef,
      resolve: (p) => ({ endCursor: p.endCursor, hasNextPage: p.hasNextPage }),
    }),
  }),
});

builder.queryField("setpointSnapshot", (t) =>
  t.field({
    type: SnapshotRef,
    args: { siteId: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const siteIds = siteScope(ctx.access, args.siteId?.toString());
      // One snapshot: the setpoints are exactly those of the commands up to the cursor.
      return ctx.db
        .transaction()
        .setIsolationLevel("repeatable read")
        .setAccessMode("read only")
        .execute(async (trx) => {
          const cursor = await feedHead(trx);
          const setpoints = await findSetpoints(trx, { siteIds });
          return { cursor: cursor.toString(), setpoints };
        });
    },
  }),
);

builder.queryField("commands", (t) =>
  t.field({
    type: ConnectionRef,
    description: "Past setpoint commands after a cursor (from the oldest kept when absent), oldest first.",
    args: {
      siteId: t.arg.id(),
      sessionId: t.arg.id(),
      after: t.arg.string(),
      first: t.arg.int({ defaultValue: 100 }),
    },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const first = args.first ?? 100;
      if (!Number.isInteger(first) || first < 1 || first > MAX_COMMANDS_PAGE) {
        throw badUserInput([{ field: "first", message: `must be between 1 and ${MAX_COMMANDS_PAGE}` }]);
      }
      const siteIds = siteScope(ctx.access, args.siteId?.toString()) ?? null;
      let after: bigint;
      try {
        if (args.after == null) after = await feedHorizon(ctx.db, "commands");
        else {
          after = parseCursor(args.after, "after");
          await checkCursor(ctx.db, "commands", after);
        }
      } catch (error) {
        throw feedError(error);
      }
      const rows = await readCommands(ctx.db, after, { siteIds, sessionId: args.sessionId?.toString() }, first + 1);
      const nodes = rows.slice(0, first);
      return {
        nodes,
        hasNextPage: rows.length > first,
        endCursor: nodes.at(-1)?.cursor ?? args.after ?? null,
      };
    },
  }),
);
