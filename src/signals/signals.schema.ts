// Price signals and demand-response dispatches.
import { requireOperation, requireSite } from "../access/access.js";
import { badUserInput } from "../api/errors.js";
import type { PriceTier } from "../domain.js";
import { builder } from "../graphql/builder.js";
import { PriceTierEnum } from "../graphql/enums.js";
import { insertStream } from "../ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../ingest/streams.js";
import type { DemandResponseSignal, PriceSignal } from "../ingest/validate.js";
import { findDrEvent, findPriceInterval } from "./signals.repository.js";

const PriceSignalRef = builder.objectRef<PriceSignal>("PriceSignal").implement({
  description: "A price interval as stored (a later signal for the same tariff and start replaces it).",
  fields: (t) => ({
    tariffId: t.exposeID("tariffId"),
    siteId: t.exposeID("siteId"),
    priceUsdKwh: t.exposeFloat("priceUsdKwh"),
    priceTier: t.field({ type: PriceTierEnum, resolve: (p) => p.priceTier }),
    validFrom: t.field({ type: "DateTime", resolve: (p) => p.validFrom }),
    validTo: t.field({ type: "DateTime", resolve: (p) => p.validTo }),
  }),
});

const DemandResponseEventRef = builder.objectRef<DemandResponseSignal>("DemandResponseEvent").implement({
  description: "A DR event as stored (the newest signal for the event id wins).",
  fields: (t) => ({
    drEventId: t.exposeID("drEventId"),
    siteId: t.exposeID("siteId"),
    curtailmentPct: t.exposeFloat("curtailmentPct"),
    baselineKw: t.exposeFloat("baselineKw"),
    eventStartTs: t.field({ type: "DateTime", resolve: (d) => d.eventStartTs }),
    eventEndTs: t.field({ type: "DateTime", resolve: (d) => d.eventEndTs }),
    signalTs: t.field({ type: "DateTime", resolve: (d) => d.signalTs }),
  }),
});

const PriceSignalInput = builder.inputType("PriceSignalInput", {
  fields: (t) => ({
    tariffId: t.id({ required: true }),
    siteId: t.id({ required: true }),
    priceUsdKwh: t.float({ required: true }),
    priceTier: t.field({ type: PriceTierEnum, required: true }),
    validFrom: t.field({ type: "DateTime", required: true }),
    validTo: t.field({ type: "DateTime", required: true }),
  }),
});

const DemandResponseInput = builder.inputType("DemandResponseInput", {
  fields: (t) => ({
    drEventId: t.id({ required: true }),
    siteId: t.id({ required: true }),
    curtailmentPct: t.float({ required: true }),
    baselineKw: t.float(),
    eventStartTs: t.field({ type: "DateTime", required: true }),
    eventEndTs: t.field({ type: "DateTime", required: true }),
    signalTs: t.field({ type: "DateTime", required: true }),
  }),
});

builder.mutationFields((t) => ({
  publishPriceSignal: t.field({
    type: PriceSignalRef,
    args: { input: t.arg({ type: PriceSignalInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const checked = INPUT_STREAMS.priceSignals.check(args.input, Date.now());
      if (!checked.ok) throw badUserInput(checked.issues);
      const signal = checked.value;
      requireSite(ctx.access, signal.siteId);
      await insertStream(ctx.db, INPUT_STREAMS.priceSignals, [signal]);
      const stored = await findPriceInterval(ctx.db, signal.siteId, signal.tariffId, signal.validFrom);
      if (!stored) return signal;
      return {
        tariffId: stored.tariff_id,
        siteId: stored.site_id,
        priceUsdKwh: stored.price_usd_kwh,
        priceTier: stored.price_tier as PriceTier,
        validFrom: stored.valid_from,
        validTo: stored.valid_to,
      };
    },
  }),
  dispatchDemandResponse: t.field({
    type: DemandResponseEventRef,
    args: { input: t.arg({ type: DemandResponseInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "ingest");
      const checked = INPUT_STREAMS.drSignals.check(args.input, Date.now());
      if (!checked.ok) throw badUserInput(checked.issues);
      const signal = checked.value;
      requireSite(ctx.access, signal.siteId);
      await insertStream(ctx.db, INPUT_STREAMS.drSignals, [signal]);
      const stored = await findDrEvent(ctx.db, signal.siteId, signal.drEventId);
      if (!stored) return signal;
      return {
        drEventId: stored.dr_event_id,
        siteId: stored.site_id,
        curtailmentPct: stored.curtailment_pct,
        baselineKw: stored.baseline_kw,
        eventStartTs: stored.event_start_ts,
        eventEndTs: stored.event_end_ts,
        signalTs: stored.signal_ts,
      };
    },
  }),
}));
