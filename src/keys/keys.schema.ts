// Admin management of database API keys. A key is returned once, at creation; only its hash is kept.
import { requireOperation } from "../access/access.js";
import { createApiKey } from "../access/keys.js";
import { badUserInput, notFound } from "../api/errors.js";
import { builder } from "../graphql/builder.js";

const RoleEnum = builder.enumType("Role", { values: ["admin", "ingest", "cpms", "reader"] as const });

interface ApiKeyModel {
  id: string;
  key_prefix: string;
  role: "admin" | "ingest" | "cpms" | "reader";
  sites: string[] | null;
  description: string;
  created_at: Date;
  revoked_at: Date | null;
}

const ApiKeyRef = builder.objectRef<ApiKeyModel>("ApiKey").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    keyPrefix: t.exposeString("key_prefix", { description: "The first characters, to recognise a key" }),
    role: t.field({ type: RoleEnum, resolve: (k) => k.role }),
    sites: t.exposeStringList("sites", { nullable: true, description: "null: every site" }),
    description: t.exposeString("description"),
    createdAt: t.field({ type: "DateTime", resolve: (k) => k.created_at }),
    revokedAt: t.field({ type: "DateTime", nullable: true, resolve: (k) => k.revoked_at }),
  }),
});

const CreatedApiKeyRef = builder.objectRef<{ key: string; apiKey: ApiKeyModel }>("CreatedApiKey").implement({
  fields: (t) => ({
    key: t.exposeString("key", { description: "The secret: shown this once, store it now" }),
    apiKey: t.field({ type: ApiKeyRef, resolve: (c) => c.apiKey }),
  }),
});

const CreateApiKeyInput = builder.inputType("CreateApiKeyInput", {
  fields: (t) => ({
    role: t.field({ type: RoleEnum, required: true }),
    sites: t.idList({ description: "Limit the key to these sites; omit for every site" }),
    description: t.string(),
  }),
});

builder.queryField("apiKeys", (t) =>
  t.field({
    type: [ApiKeyRef],
    resolve: async (_root, _args, ctx) => {
      requireOperation(ctx.access, "admin");
      return ctx.db
        .selectFrom("api_keys")
        .select(["id", "key_prefix", "role", "sites", "description", "created_at", "revoked_at"])
        .orderBy("id")
        .execute();
    },
  }),
);

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKeyRef,
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "admin");
      const sites = args.input.sites?.map(String) ?? null;
      if (sites && (sites.length === 0 || sites.some((s) => s.length === 0 || s.length > 200))) {
        throw badUserInput([{ field: "sites", message: "must list 1 or more site ids of 1-200 characters" }]);
      }
      const description = args.input.description ?? "";
      if (description.length > 500)
        throw badUserInput([{ field: "description", message: "must be at most 500 characters" }]);
      const { key, id } = await createApiKey(ctx.db, { role: args.input.role, sites, description });
      const apiKey = await ctx.db
        .selectFrom("api_keys")
        .select(["id", "key_prefix", "role", "sites", "description", "created_at", "revoked_at"])
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      ctx.logger.info({ keyId: `db:${id}`, role: apiKey.role, by: ctx.access.keyId }, "API key created");
      return { key, apiKey };
    },
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperation(ctx.access, "admin");
      const id = String(args.id);
      if (!/^\d{1,18}$/.test(id)) throw notFound(`API key ${id}`);
      const row = await ctx.db
        .updateTable("api_keys")
        .set({ revoked_at: new Date() })
        .where("id", "=", id)
        .where("revoked_at", "is", null)
        .returning(["id", "key_prefix", "role", "sites", "description", "created_at", "revoked_at"])
        .executeTakeFirst();
      if (!row) throw notFound(`active API key ${id}`);
      ctx.logger.info({ keyId: `db:${id}`, by: ctx.access.keyId }, "API key revoked");
      return row;
    },
  }),
}));
