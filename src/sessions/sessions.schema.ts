import { type Access, canSeeSite, requireOperation, requireSite, siteScope } from "../access/access.js";
import { badUserInput, forbidden, notFound } from "../api/errors.js";
import type { AppContext } from "../context.js";
import type { Db } from "../db/pool.js";
import { builder } from "../graphql/builder.js";
import { GridPhaseEnum } from "../graphql/enums.js";
import { BATCH_DESCRIPTION, IngestResultRef, validBatch } from "../graphql/ingest.js";
import { checkPage } from "../graphql/pagination.js";
import { insertSessionEnd, insertStream } from "../ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../ingest/streams.js";
import { checkSessionEnd, type SessionSample } from "../ingest/validate.js";

const samples = INPUT_STREAMS.sessionSamples;

import { SetpointRef } from "../setpoints/setpoints.schema.js";
import type { SessionRow } from "./sessions.js";
import { findSessionSites, findSessions } from "./sessions.repository.js";

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
    departureTs: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the driver leaves (null: unknown); from the newest sample",
      resolve: (s) => s.departure_ts,
    }),
    requestedEnergyKwh: t.exposeFloat("requested_energy_kwh", {
      nullable: true,
      description: "Energy wanted in this session in total, kWh (null: unknown)",
    }),
    evMaxKw: t.exposeFloat("ev_max_kw", { nullable: true, description: "The most the vehicle accepts, kW" }),
    evMinKw: t.exposeFloat("ev_min_kw", { nullable: true, description: "The least the vehicle accepts, kW" }),
    bidUsdKwh: t.exposeFloat("bid_usd_kwh", {
      nullable: true,
      description: "What the driver offers per kWh for a faster share",
    }),
    priority: t.exposeInt("priority", { nullable: true, description: "Higher first (null: unknown)" }),
    phases: t.exposeInt("phases", { nullable: true, description: "Phases the session draws on (null: unknown)" }),
    phase: t.field({
      type: GridPhaseEnum,
      nullable: true,
      description: "The grid phase of a 1-phase session (null: unknown)",
      resolve: (s) => s.phase as typeof GridPhaseEnum.$inferType | null,
    }),
    voltageV: t.exposeFloat("voltage_v", { nullable: true, description: "Phase-to-neutral voltage (null: unknown)" }),
    transactionId: t.exposeString("transaction_id", {
      nullable: true,
      description: "The OCPP transaction id (1.6: an integer, as text; 2.0.1: a string)",
    }),
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
    departureTs: t.field({
      type: "DateTime",
      description: "When the driver leaves (requested or estimated); after sessionStartTs, at most 400 days ahead",
    }),
    requestedEnergyKwh: t.float({ description: "Energy wanted in this session in total, 0-1,000 kWh" }),
    evMaxKw: t.float({ description: "The most the vehicle accepts (ISO 15118), kW" }),
    evMinKw: t.float({ description: "The least the vehicle accepts, kW; not above evMaxKw" }),
    bidUsdKwh: t.float({ description: "What the driver offers per kWh for a faster share, 0-100 USD/kWh" }),
    priority: t.int({ description: "Integer -1000..1000, higher first (fleet, emergency services)" }),
    phases: t.int({ description: "Phases the session draws on: 1, 2 or 3" }),
    phase: t.field({ type: GridPhaseEnum, description: "For a 1-phase session: its grid phase (L1, L2 or L3)" }),
    voltageV: t.float({ description: "Phase-to-neutral voltage, 100-1,000 V (default the charge point's or site's)" }),
    transactionId: t.id({
      description: "The OCPP transaction id: an integer (1.6) or a string of at most 36 characters (2.0.1)",
    }),
  }),
});

builder.queryFields((t) => ({
  session: t.field({
    type: ChargingSessionRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const [session] = await findSessions(ctx.db, { sessionIds: [args.id.toString()], activeOnly: false });
      // Another site's session answers like a missing one: ids of other sites are not revealed.
      return session && canSeeSite(ctx.access, session.site_id) ? session : null;
    },
  }),
  sessions: t.field({
    type: [ChargingSessionRef],
    description:
      "By site, start and id. first (1-1000; absent: all) and after (the id of the last session received) page through a long list.",
    args: {
      siteId: t.arg.id(),
      activeOnly: t.arg.boolean({ defaultValue: true }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const page = checkPage(args, { defaultFirst: null, numericCursor: false });
      return findSessions(
        ctx.db,
        { siteIds: siteScope(ctx.access, args.siteId?.toString()), activeOnly: args.activeOnly ?? true },
        page,
      );
    },
  }),
}));

/** The stored session, if the key may see its site; missing and foreign answer alike. */
async function sessionById(ctx: { db: Db; access: Access }, id: string): Promise<SessionRow> {
  const [session] = await findSessions(ctx.db, { sessionIds: [id], activeOnly: false });
  if (!session || !canSeeSite(ctx.access, session.site_id)) throw notFound(`session ${id}`);
  return session;
}

/**
 * A sample may move a session to another site (a recording error corrected, a charger moved), but
 * only a key allowed at both sites may do it, and the move is logged: otherwise a key of one
 * site could take over another site's sessions by naming their ids.
 */
async function requireSessionSites(ctx: AppContext, samples: readonly SessionSample[]): Promise<void> {
  for (const sample of samples) requireSite(ctx.access, sample.siteId);
  const stored = await findSessionSites(
    ctx.db,
    samples.map((s) => s.sessionId),
  );
  for (const sample of samples) {
    const from = stored.get(sample.sessionId);
    if (from === undefined || from === sample.siteId) continue;
    if (!canSeeSite(ctx.access, from)) {
      throw forbidden(`session ${sample.sessionId} belongs to a site this key may not write`);
    }
    ctx.logger.warn(
      { sessionId: sample.sessionId, from, to: sample.siteId, by: ctx.access.keyId },
      "session sample moves the session to another site",
    );
  }
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
      await requireSessionSites(ctx, [checked.value]);
      await insertStream(ctx.db, samples, [checked.value]);
      return sessionById(ctx, checked.value.sessionId);
    },
  }),
  recordSessionSamples: t.field({
    type: IngestResultRef,
    description: BATCH_DESCRIPTION,
    args: { inputs: t.arg({ type: [SessionSampleInput], required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const batch = validBatch(args.inputs, samples);
      await requireSessionSites(ctx, batch);
      return { accepted: await insertStream(ctx.db, samples, batch) };
    },
  }),
  endSession: t.field({
    type: ChargingSessionRef,
    args: { sessionId: t.arg.id({ required: true }), endedAt: t.arg({ type: "DateTime" }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const checked = checkSessionEnd({ sessionId: args.sessionId.toString(), endedAt: args.endedAt ?? null });
      if (!checked.ok) throw badUserInput(checked.issues);
      await sessionById(ctx, checked.value.sessionId);
      await insertSessionEnd(ctx.db, checked.value.sessionId, checked.value.endedAt);
      return sessionById(ctx, checked.value.sessionId);
    },
  }),
}));
