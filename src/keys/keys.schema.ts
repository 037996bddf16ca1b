// Admin management of database API keys. A key is returned once, at creation; only its hash is kept.
import { type Access, requireOperation } from "../access/access.js";
import { badUserInput, forbidden, notFound } from "../api/errors.js";
import { ROLES } from "../domain.js";
import { builder } from "../graphql/builder.js";
import { createApiKey } from "./keys.js";
import {
  type ApiKeyRow as ApiKeyModel,
  findApiKey,
  type KeyScope,
  listApiKeys,
  revokeApiKey,
} from "./keys.repository.js";

const RoleEnum = builder.enumType("Role", { values: ROLES });

/** At most this many sites on one key (a key for more sites should be unscoped). */
export const MAX_KEY_SITES = 1000;

function keyScope(access: Access): KeyScope {
  return access.sites === null ? null : [...access.sites];
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
      return listApiKeys(ctx.db, keyScope(ctx.access));
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
      if (
        sites &&
        (sites.length === 0 || sites.length > MAX_KEY_SITES || sites.some((s) => s.length === 0 || s.length > 200))
      ) {
        throw badUserInput([
          { field: "sites", message: `must list 1 to ${MAX_KEY_SITES} site ids of 1-200 characters` },
        ]);
      }
      const scope = keyScope(ctx.access);
      if (scope !== null) {
        if (sites === null) throw forbidden("a site-scoped key may only create keys limited to its own sites");
        const outside = sites.filter((site) => !scope.includes(site));
        if (outside.length > 0) throw forbidden(`this key is not allowed for site ${outside[0]}`);
      }
      const description = args.input.description ?? "";
      if (description.length > 500)
        throw badUserInput([{ field: "description", message: "must be at most 500 characters" }]);
      const { key, id } = await createApiKey(ctx.db, { role: args.input.role, sites, description });
      const apiKey = await findApiKey(ctx.db, id);
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
      const row = await revokeApiKey(ctx.db, id, keyScope(ctx.access));
      if (!row) throw notFound(`active API key ${id}`);
      // Its open graphql-ws connections end now (4403); other instances notice within a second.
      const closed = ctx.connections.closeKey(`db:${id}`, "Forbidden: API key revoked");
      ctx.logger.info({ keyId: `db:${id}`, by: ctx.access.keyId, closedSockets: closed }, "API key revoked");
      return row;
    },
  }),
}));
