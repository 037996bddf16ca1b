// The service clock (app_now() in SQL). Reading it is harmless; setting it is for simulations and
// demos, refused unless the service was started with ALLOW_CLOCK_CONTROL=true.
import { sql } from "kysely";
import { requireOperation } from "../access/access.js";
import { badUserInput, forbidden } from "../api/errors.js";
import { builder } from "../graphql/builder.js";

interface ClockModel {
  now: Date;
  speed: number;
  virtual: boolean;
}

const ClockRef = builder.objectRef<ClockModel>("Clock").implement({
  description: "The time every rule is evaluated at (SQL app_now()).",
  fields: (t) => ({
    now: t.field({ type: "DateTime", resolve: (c) => c.now }),
    speed: t.exposeFloat("speed", { description: "Virtual seconds per real second (1 when real)" }),
    virtual: t.exposeBoolean("virtual"),
  }),
});

async function readClock(db: import("../db/pool.js").Db): Promise<ClockModel> {
  const { rows } = await sql<{ now: Date; speed: number | null }>`
    SELECT app_now() AS now, (SELECT speed FROM clock_setting) AS speed`.execute(db);
  const row = rows[0];
  return {
    now: row?.now ?? new Date(),
    speed: row?.speed ?? 1,
    virtual: row?.speed !== null && row?.speed !== undefined,
  };
}

builder.queryField("clock", (t) =>
  t.field({
    type: ClockRef,
    resolve: (_root, _args, ctx) => {
      requireOperation(ctx.access, "query");
      return readClock(ctx.db);
    },
  }),
);

builder.mutationField("setClock", (t) =>
  t.field({
    type: ClockRef,
    description:
      "Virtual time from `at`, running at `speed` (0 frozen). `at: null` returns to real time. Needs ALLOW_CLOCK_CONTROL=true.",
    args: { at: t.arg({ type: "DateTime" }), speed: t.arg.float({ defaultValue: 1 }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "admin");
      if (!ctx.allowClockControl)
        throw forbidden("clock control is off (start the service with ALLOW_CLOCK_CONTROL=true)");
      const speed = args.speed ?? 1;
      if (!Number.isFinite(speed) || speed < 0 || speed > 100_000) {
        throw badUserInput([{ field: "speed", message: "must be between 0 and 100000" }]);
      }
      let at: Date | null = null;
      if (args.at !== null && args.at !== undefined) {
        at = new Date(args.at);
        if (Number.isNaN(at.getTime())) throw badUserInput([{ field: "at", message: "must be an ISO-8601 timestamp" }]);
      }
      await sql`SELECT set_clock(${at?.toISOString() ?? null}::timestamptz, ${speed}::float8)`.execute(ctx.db);
      return readClock(ctx.db);
    },
  }),
);
