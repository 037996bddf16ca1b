import { requireOperation, siteScope } from "../access/access.js";
import { openFeed } from "../feed/open.js";
import { builder } from "../graphql/builder.js";
import { AlertStatusEnum, AlertTypeEnum } from "../graphql/enums.js";
import { checkPage } from "../graphql/pagination.js";
import { type AlertModel, alertRowFromEvent } from "./alerts.js";
import { findAlerts } from "./alerts.repository.js";

export const AlertRef = builder.objectRef<AlertModel>("Alert").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    type: t.field({ type: AlertTypeEnum, resolve: (a) => a.type }),
    siteId: t.exposeID("site_id"),
    sessionId: t.exposeID("session_id", { nullable: true }),
    status: t.field({ type: AlertStatusEnum, resolve: (a) => a.status }),
    raisedAt: t.field({ type: "DateTime", resolve: (a) => a.raised_at }),
    updatedAt: t.field({ type: "DateTime", resolve: (a) => a.updated_at }),
    clearedAt: t.field({ type: "DateTime", nullable: true, resolve: (a) => a.cleared_at }),
    message: t.exposeString("message"),
    cursor: t.string({
      nullable: true,
      description: "On alertChanged events: the event's feed cursor; subscribe with after: cursor to resume",
      resolve: (a) => a.cursor ?? null,
    }),
  }),
});

builder.queryField("alerts", (t) =>
  t.field({
    type: [AlertRef],
    description:
      "Newest first. first (1-1000; absent: all) and after (the id of the last alert received) page through a long list.",
    args: {
      siteId: t.arg.id(),
      activeOnly: t.arg.boolean({ defaultValue: true }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const page = checkPage(args, { defaultFirst: null, numericCursor: true });
      return findAlerts(
        ctx.db,
        { siteIds: siteScope(ctx.access, args.siteId?.toString()), activeOnly: args.activeOnly ?? true },
        page,
      );
    },
  }),
);

builder.subscriptionField("alertChanged", (t) =>
  t.field({
    type: AlertRef,
    description:
      "Alerts raised, updated and cleared, for a site or every site the key may see, in commit order. With after: every change after that cursor first (from the alert event log), then live.",
    args: {
      siteId: t.arg.id(),
      after: t.arg.string(),
    },
    subscribe: (_root, args, ctx) => openFeed("alert", ctx, args),
    resolve: (event) => alertRowFromEvent(event),
  }),
);
