// GraphQL over HTTP, SSE and graphql-ws on one server and path, with one context factory, and the
// access rules of SPEC §7: a key on every request, a rate limit per key, bounded documents.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { type ExecutionArgs, NoSchemaIntrospectionCustomRule, visit } from "graphql";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { Access } from "../access/access.js";
import type { KeyStore } from "../access/keys.js";
import { createRateLimiter } from "../access/rate-limit.js";
import type { Config } from "../config.js";
import { type AppContext, createContext, type Services } from "../context.js";
import { buildSchema } from "../graphql/schema.js";
import type { Metrics } from "../ops/metrics.js";

/** A batch of 10,000 samples is about 3.5 MB of JSON. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

interface ServerContext {
  access: Access;
}

function metricsPlugin(metrics: Metrics): Plugin {
  return {
    onExecute({ args }) {
      const operation = args.document.definitions.find((d: { kind: string }) => d.kind === "OperationDefinition");
      const type = operation && "operation" in operation ? operation.operation : "unknown";
      return {
        onExecuteDone({ result }) {
          const failed = "errors" in result && Array.isArray(result.errors) && result.errors.length > 0;
          metrics.graphqlOperations.inc({ type, outcome: failed ? "error" : "ok" });
        },
      };
    },
  };
}

/** Variables that do not fit the schema (a missing field, a string for a number) are bad input too. */
function codeVariableErrors(): Plugin {
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!("errors" in result) || !result.errors || ("data" in result && result.data)) return;
          const errors = result.errors.map((error) =>
            error.message.startsWith('Variable "$') && !error.extensions?.code
              ? createGraphQLError(error.message, {
                  nodes: error.nodes,
                  extensions: { ...error.extensions, code: "BAD_USER_INPUT" },
                })
              : error,
          );
          setResult({ ...result, errors });
        },
      };
    },
  };
}

const hasNul = (value: unknown): boolean =>
  typeof value === "string"
    ? value.includes("\u0000")
    : Array.isArray(value)
      ? value.some(hasNul)
      : value !== null && typeof value === "object" && Object.values(value).some(hasNul);

/** PostgreSQL text cannot hold NUL: refuse it as bad input anywhere, before any resolver runs. */
function rejectNulCharacters(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      let inDocument = false;
      visit(args.document, {
        StringValue(node) {
          if (node.value.includes("\u0000")) inDocument = true;
        },
      });
      if (inDocument || hasNul(args.variableValues)) {
        setResultAndStopExecution({
          errors: [
            createGraphQLError("Invalid input: strings must not contain NUL (\\u0000) characters", {
              extensions: { code: "BAD_USER_INPUT" },
            }),
          ],
        });
      }
    },
  };
}

function noIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

export type GraphQLYoga = YogaServerInstance<ServerContext, AppContext>;

export function createGraphQLYoga(services: Services, config: Config, metrics: Metrics): GraphQLYoga {
  const production = config.nodeEnv === "production";
  return createYoga<ServerContext, AppContext>({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    graphiql: production ? false : { subscriptionsProtocol: "WS" },
    maskedErrors: production ? true : { isDev: true },
    logging: services.logger,
    context: ({ access }) => createContext(services, access),
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: 8 },
        maxAliases: { n: 15 },
        costLimit: { maxCost: 20_000 },
        maxTokens: { n: 5_000 },
        maxDirectives: { n: 20 },
        blockFieldSuggestion: { enabled: production },
      }),
      ...(config.introspection ? [] : [noIntrospection()]),
      codeVariableErrors(),
      rejectNulCharacters(),
      metricsPlugin(metrics),
    ],
  });
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) {
  res
    .writeHead(status, { "content-type": "application/json", ...headers })
    .end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}

/** The /graphql request handler: authenticate, rate-limit, bound the body, then yoga. */
export function createGraphQLHandler(yoga: GraphQLYoga, keys: KeyStore, config: Config) {
  const limiter = createRateLimiter(config.rateLimitPerSecond);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The GraphiQL page itself carries no data; its requests send the key like any client.
    const wantsPage = req.method === "GET" && (req.headers.accept ?? "").includes("text/html");
    if (wantsPage && config.nodeEnv !== "production") {
      await yoga(req, res, { access: { role: "reader", sites: new Set(), keyId: "graphiql-page" } });
      return;
    }
    const access = await keys.authenticate(req.headers.authorization);
    if (!access) {
      const reason = req.headers.authorization ? "unknown or revoked API key" : "missing API key";
      sendError(res, 401, "UNAUTHENTICATED", `Unauthenticated: ${reason} (send Authorization: Bearer <key>)`, {
        "www-authenticate": 'Bearer realm="smart-charging"',
      });
      return;
    }
    if (!limiter.take(access.keyId)) {
      sendError(
        res,
        429,
        "RATE_LIMITED",
        `Rate limit of ${config.rateLimitPerSecond} requests/s for this key exceeded; retry shortly`,
        {
          "retry-after": "1",
        },
      );
      return;
    }
    const length = Number(req.headers["content-length"] ?? 0);
    if (length > MAX_BODY_BYTES) {
      sendError(res, 413, "PAYLOAD_TOO_LARGE", `Request body of ${length} bytes exceeds ${MAX_BODY_BYTES} bytes`);
      return;
    }
    await yoga(req, res, { access });
  };
}

/** graphql-ws on the same server and path, through yoga's envelop: same plugins, same context. */
export function attachWebSocket(server: Server, yoga: GraphQLYoga, keys: KeyStore): WebSocketServer {
  const wss = new WebSocketServer({ server, path: "/graphql", maxPayload: 1024 * 1024 });
  type Extra = { access?: Access };
  useServer<Record<string, unknown> | undefined, Extra>(
    {
      // Key in the connection_init payload: unknown → 4401; a role that may not subscribe → 4403.
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        const access = await keys.authenticate(typeof authorization === "string" ? authorization : null);
        if (!access) {
          ctx.extra.socket.close(CloseCode.Unauthorized, "Unauthorized: unknown or missing API key");
          return false;
        }
        if (access.role === "ingest") {
          ctx.extra.socket.close(CloseCode.Forbidden, "Forbidden: role ingest may not subscribe");
          return false;
        }
        ctx.extra.access = access;
        return true;
      },
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const access = ctx.extra.access as Access;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          access,
        });
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );
  return wss;
}
