// History queries: siteHistory (the per-site status log in buckets) and deadLetters (admin).
import { requireOperation, requireSite } from "../access/access.js";
import { badUserInput } from "../api/errors.js";
import { builder } from "../graphql/builder.js";
import { PriceTierEnum } from "../graphql/enums.js";
import { checkPage, DEFAULT_PAGE_SIZE, PageInfoRef, toPage } from "../graphql/pagination.js";
import { type DeadLetterRow, listDeadLetters } from "../kafka/dead-letter.repository.js";
import { checkHistoryRange } from "./history.js";
import { type SiteHistoryBucket, siteHistory } from "./history.repository.js";

const SiteHistoryBucketRef = builder.objectRef<SiteHistoryBucket>("SiteHistoryBucket").implement({
  description:
    "A site's figures over one bucket: time-weighted means of the values in force (carried in from before the bucket); null before the site's first record and after now.",
  fields: (t) => ({
    start: t.field({ type: "DateTime", resolve: (b) => b.start }),
    demandKw: t.exposeFloat("demand_kw", { nullable: true, description: "Whole-site demand" }),
    maxDemandKw: t.exposeFloat("max_demand_kw", { nullable: true, description: "Highest demand in force" }),
    buildingKw: t.exposeFloat("building_kw", { nullable: true, description: "Demand less EV load" }),
    evLoadKw: t.exposeFloat("ev_load_kw", { nullable: true, description: "Measured EV load" }),
    commandedKw: t.exposeFloat("commanded_kw", { nullable: true, description: "Sum of commanded setpoints" }),
    limitKw: t.exposeFloat("limit_kw", { nullable: true, description: "The site's demand limit" }),
    evCapKw: t.exposeFloat("ev_cap_kw", { nullable: true, description: "The hard cap C" }),
    targetKw: t.exposeFloat("target_kw", { nullable: true, description: "The target T" }),
    priceTier: t.field({
      type: PriceTierEnum,
      nullable: true,
      description: "The tier in force longest",
      resolve: (b) => b.tier,
    }),
    drActive: t.exposeBoolean("dr_active", { nullable: true, description: "A DR event was in force" }),
  }),
});

const DeadLetterRef = builder.objectRef<DeadLetterRow>("DeadLetter").implement({
  description: "A Kafka message the service could not use, parked with its reason.",
  fields: (t) => ({
    id: t.exposeID("id"),
    topic: t.exposeString("topic"),
    partition: t.exposeInt("partition"),
    offset: t.exposeString("kafka_offset"),
    key: t.string({ nullable: true, description: "The key as UTF-8", resolve: (d) => d.key?.toString("utf8") ?? null }),
    payload: t.string({
      nullable: true,
      description: "The value as UTF-8 (bytes that are not UTF-8 show as U+FFFD)",
      resolve: (d) => d.payload?.toString("utf8") ?? null,
    }),
    payloadBase64: t.string({ nullable: true, resolve: (d) => d.payload?.toString("base64") ?? null }),
    headers: t.string({ description: "The headers as a JSON object", resolve: (d) => JSON.stringify(d.headers ?? {}) }),
    messageTs: t.field({ type: "DateTime", nullable: true, resolve: (d) => d.message_ts }),
    reason: t.exposeString("reason"),
    receivedAt: t.field({ type: "DateTime", resolve: (d) => d.received_at }),
    dlqPublishedAt: t.field({ type: "DateTime", nullable: true, resolve: (d) => d.dlq_published_at }),
  }),
});

const DeadLetterConnectionRef = builder
  .objectRef<{ nodes: DeadLetterRow[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } }>(
    "DeadLetterConnection",
  )
  .implement({
    fields: (t) => ({
      nodes: t.field({ type: [DeadLetterRef], resolve: (c) => c.nodes }),
      pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c.pageInfo }),
    }),
  });

builder.queryFields((t) => ({
  siteHistory: t.field({
    type: [SiteHistoryBucketRef],
    description:
      "A site's demand, building and EV load, commanded sum, limit, cap and target in buckets of bucketSeconds from `from` (the last bucket ends at `to`).",
    args: {
      siteId: t.arg.id({ required: true }),
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      bucketSeconds: t.arg.int({ required: true }),
    },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "query");
      const siteId = args.siteId.toString();
      requireSite(ctx.access, siteId);
      const checked = checkHistoryRange(args);
      if (!checked.ok) throw badUserInput(checked.issues);
      return siteHistory(ctx.db, siteId, checked.value);
    },
  }),
  deadLetters: t.field({
    type: DeadLetterConnectionRef,
    description: "Parked Kafka messages, newest first (admin only).",
    args: {
      first: t.arg.int({ defaultValue: DEFAULT_PAGE_SIZE, description: "1-1000" }),
      after: t.arg.string({ description: "endCursor of the previous page" }),
    },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "admin");
      const page = checkPage(args, { defaultFirst: DEFAULT_PAGE_SIZE, numericCursor: true });
      const first = page.first ?? DEFAULT_PAGE_SIZE;
      const rows = await listDeadLetters(ctx.db, { limit: first + 1, after: page.after });
      return toPage(rows, first, (row) => row.id);
    },
  }),
}));
