import { requireOperation, requireSite, siteScope } from "../access/access.js";
import { badUserInput, notFound } from "../api/errors.js";
import { builder } from "../graphql/builder.js";
import { insertSessionEnd, insertStream } from "../ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../ingest/streams.js";
import { checkBatch, checkSessionEnd } from "../ingest/validate.js";

const samples = INPUT_STREAMS.sessionSamples;

import { SetpointRef } from "../setpoints/setpoints.schema.js";
import type { SessionRow } from "./sessions.js";
import { findSessions } from "./sessions.repository.js";

export const ChargingSessionRef = builder.objectRef<SessionRow>("ChargingSession").implement({
  fields: (t) => ({
    id: t.exposeID("session_id"),
    chargePointId: t.exposeString("charge_point_id"),
    connectorId: t.exposeInt("connector_id"),
    siteId: t.exposeID("site_id"),
    idTag: t.exposeString("id_tag", { nullable: true }),
    ratedPowerKw: t.exposeFloat("rated_power_kw"),
    currentPowerKw: t.exposeFloat("current_power_kw", { nullable: true }),
    socPct: t.exposeFloat("soc_pct", { nullable: true }),
    energyKwh: t.exposeFloat("energy_kwh", { nullable: true }),
    sessionStartTs: t.field({ type: "DateTime", resolve: (s) => s.session_start_ts }),
    sampledTs: t.field({ type: "DateTime", resolve: (s) => s.sampled_ts }),
    active: t.boolean({ resolve: (s) => s.ended_at === null }),
    endedAt: t.field({ type: "DateTime", nullable: true, resolve: (s) => s.ended_at }),
    endReason: t.string({
      nullable: true,
      description: "ENDED (explicit end) or TIMEOUT (no sample within the site's session timeout)",
      resolve: (s) => s.end_reason,
    }),
    setpoint: t.field({
      type: SetpointRef,
      nullable: true,
      resolve: (s, _args, ctx) => ctx.loaders.setpointBySession.load(s.session_id),
    }),
  }),
});

const SessionSampleInput = builder.inputType("SessionSampleInput", {
  description: "One OCPP MeterValues sample of a charging session (SPEC §2).",
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    chargePointId: t.string({ required: true }),
    connectorId: t.int({ required: true }),
    siteId: t.id({ required: true }),
    idTag: t.string(),
    ratedPowerKw: t.float({ required: true }),
    currentPowerKw: t.float(),
    socPct: t.float(),
    energyKwh: t.float(),
    sessionStartTs: t.field({ type: "DateTime", required: true }),
    sampledTs: t.field({ type: "DateTime", required: true }),
    ended: t.boolean({ description: "true: this sample ends the session" }),
    endedTs: t.field({ type: "DateTime", description: "When the session ended (ends it)" }),
  }),
});

const IngestResultRef = builder.objectRef<{ accepted: number }>("IngestResult").implement({
  fields: (t) => ({ accepted: t.exposeInt("accepted") }),
});

const MAX_BATCH = 10_000;

builder.queryFields((t) => ({
  session: t.field({
    type: ChargingSessionRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const [session] = await findSessions(ctx.db, { sessionIds: [args.id.toString()], activeOnly: false });
      if (session) requireSite(ctx.access, session.site_id);
      return session ?? null;
    },
  }),
  sessions: t.field({
    type: [ChargingSessionRef],
    args: { siteId: t.arg.id(), activeOnly: t.arg.boolean({ defaultValue: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      return findSessions(ctx.db, {
        siteIds: siteScope(ctx.access, args.siteId?.toString()),
        activeOnly: args.activeOnly ?? true,
      });
    },
  }),
}));

async function sessionById(ctx: { db: import("../db/pool.js").Db }, id: string): Promise<SessionRow> {
  const [session] = await findSessions(ctx.db, { sessionIds: [id], activeOnly: false });
  if (!session) throw notFound(`session ${id}`);
  return session;
}

builder.mutationFields((t) => ({
  recordSessionSample: t.field({
    type: ChargingSessionRef,
    description: "Records one sample; returns the session's current state (the newest sample wins).",
    args: { input: t.arg({ type: SessionSampleInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const checked = samples.check(args.input, Date.now());
      if (!checked.ok) throw badUserInput(checked.issues);
      requireSite(ctx.access, checked.value.siteId);
      await insertStream(ctx.db, samples, [checked.value]);
      return sessionById(ctx, checked.value.sessionId);
    },
  }),
  recordSessionSamples: t.field({
    type: IngestResultRef,
    description: `All or nothing, in one statement: every bad item is reported by index. At most ${MAX_BATCH} items.`,
    args: { inputs: t.arg({ type: [SessionSampleInput], required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      if (args.inputs.length > MAX_BATCH) {
        throw badUserInput([
          { field: "inputs", message: `holds ${args.inputs.length} items; at most ${MAX_BATCH} per batch` },
        ]);
      }
      const checked = checkBatch(args.inputs, samples.check);
      if (!checked.ok) throw badUserInput(checked.issues);
      for (const sample of checked.value) requireSite(ctx.access, sample.siteId);
      return { accepted: await insertStream(ctx.db, samples, checked.value) };
    },
  }),
  endSession: t.field({
    type: ChargingSessionRef,
    args: { sessionId: t.arg.id({ required: true }), endedAt: t.arg({ type: "DateTime" }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const checked = checkSessionEnd({ sessionId: args.sessionId.toString(), endedAt: args.endedAt ?? null });
      if (!checked.ok) throw badUserInput(checked.issues);
      const session = await sessionById(ctx, checked.value.sessionId);
      requireSite(ctx.access, session.site_id);
      await insertSessionEnd(ctx.db, checked.value.sessionId, checked.value.endedAt);
      return sessionById(ctx, checked.value.sessionId);
    },
  }),
}));
