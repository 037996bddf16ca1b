// Opening a feed subscription for GraphQL (setpointChanged, alertChanged): access, the cursor to
// resume after (the SSE Last-Event-ID header wins over the `after` argument: it is the newer
// position of the same stream), its checks, and the coded errors.
import { requireOperation, requireSite } from "../access/access.js";
import { feedError, subscriptionSource } from "../api/errors.js";
import type { AppContext } from "../context.js";
import type { AlertEvent, SetpointCommandEvent } from "../stream/events.js";
import { parseCursor } from "./cursor.js";
import { checkCursor } from "./feed.repository.js";
import { resumableSubscription } from "./subscription.js";

/** The cursor of the event a subscription handed on last, per operation context (SSE ids). */
const lastCursor = new WeakMap<object, string>();

export function feedCursorOf(context: object): string | null {
  return lastCursor.get(context) ?? null;
}

interface EventMap {
  command: SetpointCommandEvent;
  alert: AlertEvent;
}

export async function openFeed<K extends keyof EventMap>(
  kind: K,
  ctx: AppContext,
  args: { siteId?: string | number | null; after?: string | null },
): Promise<AsyncIterableIterator<EventMap[K]>> {
  requireOperation(ctx.access, "subscribe");
  const siteId = args.siteId?.toString() ?? null;
  if (siteId !== null) requireSite(ctx.access, siteId);
  const field = ctx.lastEventId ? "Last-Event-ID" : "after";
  const text = ctx.lastEventId || args.after || null;
  let after: bigint | null = null;
  try {
    if (text !== null) {
      after = parseCursor(text, field);
      await checkCursor(ctx.db, kind === "command" ? "commands" : "alerts", after, field);
    }
  } catch (error) {
    throw feedError(error);
  }
  const events = resumableSubscription(kind, ctx.fanout, ctx.db, { after, siteId, allowedSites: ctx.access.sites });
  const tracked: AsyncIterableIterator<EventMap[K]> = {
    next: async () => {
      const result = await events.next();
      if (!result.done) lastCursor.set(ctx, result.value.cursor);
      return result;
    },
    return: () => events.return?.() ?? Promise.resolve({ value: undefined, done: true }),
    [Symbol.asyncIterator]() {
      return tracked;
    },
  };
  return subscriptionSource(tracked);
}
