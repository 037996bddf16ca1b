// GraphQL over HTTP, SSE and graphql-ws on one server and path, with one context factory, and the
// access rules of SPEC §7: a key on every request, a rate limit per key, bounded requests. The
// rules are yoga/envelop plugins (src/access/gate.ts), so every transport gets the same ones.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { type ExecutionArgs, GraphQLError, NoSchemaIntrospectionCustomRule, visit } from "graphql";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { createGraphQLError, createYoga, maskError, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { Access } from "../access/access.js";
import { type AccessGate, authorizationFromConnectionParams, MAX_BODY_BYTES, useAccessGate } from "../access/gate.js";
import type { Config } from "../config.js";
import { type AppContext, createContext, type Services } from "../context.js";
import { buildSchema } from "../graphql/schema.js";
import type { Metrics } from "../ops/metrics.js";
import { type ErrorCode, isDatabaseUnavailable, serviceUnavailable } from "./errors.js";
import { renderLocalGraphiQL } from "./graphiql.js";

export { MAX_BODY_BYTES };

interface ServerContext {
  /** Set by the access gate (HTTP, SSE) or by graphql-ws onConnect. */
  access?: Access;
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
                  extensions: { ...error.extensions, code: "BAD_USER_INPUT" satisfies ErrorCode },
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
              extensions: { code: "BAD_USER_INPUT" satisfies ErrorCode },
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

export function createGraphQLYoga(services: Services, config: Config, metrics: Metrics, gate: AccessGate): GraphQLYoga {
  const production = config.nodeEnv === "production";
  return createYoga<ServerContext, AppContext>({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    graphiql: production ? false : { subscriptionsProtocol: "WS", title: "Smart-charging coordinator · GraphiQL" },
    // The page and its assets come from the installed @graphql-yoga/graphiql, not from a CDN.
    renderGraphiQL: renderLocalGraphiQL,
    // A lost database is a retryable 503 that says nothing was applied; anything else unknown is masked.
    maskedErrors: {
      isDev: !production,
      maskError: (error, message, isDev) =>
        isDatabaseUnavailable(error)
          ? serviceUnavailable("the database is unreachable")
          : maskError(error, message, isDev),
    },
    // Bounded streaming too (chunked bodies have no content-length for the gate to check).
    maxRequestBodySize: MAX_BODY_BYTES,
    logging: services.logger,
    context: ({ access }) => {
      if (!access) throw new Error("no access on the server context: the access gate did not run");
      return createContext(services, access);
    },
    plugins: [
      useAccessGate(gate),
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

/** The /graphql request handler: yoga, whose plugins authenticate, rate-limit and bound the request. */
export function createGraphQLHandler(yoga: GraphQLYoga) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    await yoga(req, res, {});
  };
}

/** A GraphQL error for a graphql-ws client: the HTTP hint (status, headers) means nothing there. */
function forWebSocket(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) {
    const { http: _http, ...extensions } = error.extensions ?? {};
    return createGraphQLError(error.message, { extensions });
  }
  return createGraphQLError(isDatabaseUnavailable(error) ? "Service unavailable" : "Unexpected error.", {
    extensions: {
      code: (isDatabaseUnavailable(error) ? "SERVICE_UNAVAILABLE" : "INTERNAL_SERVER_ERROR") satisfies ErrorCode,
    },
  });
}

/** graphql-ws on the same server and path, through yoga's envelop: same plugins, same context. */
export function attachWebSocket(server: Server, yoga: GraphQLYoga, gate: AccessGate): WebSocketServer {
  // A message may be as large as an HTTP body; the gate answers PAYLOAD_TOO_LARGE below that, and
  // ws closes the socket (1009) above it, before buffering more.
  const wss = new WebSocketServer({ server, path: "/graphql", maxPayload: MAX_BODY_BYTES + 64 * 1024 });
  type Extra = { access?: Access };
  useServer<Record<string, unknown> | undefined, Extra>(
    {
      // Key in the connection_init payload (authorization or Authorization, or a headers object,
      // as GraphiQL sends it): unknown → 4401; a role that may not subscribe → 4403.
      onConnect: async (ctx) => {
        const authorization =
          authorizationFromConnectionParams(ctx.connectionParams) ?? ctx.extra.request.headers.authorization ?? null;
        let access: Access | null;
        try {
          access = await gate.authenticate(authorization);
        } catch (error) {
          ctx.extra.socket.close(CloseCode.InternalServerError, forWebSocket(error).message);
          return false;
        }
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
        try {
          // parse runs the access gate: rate limit and size, as for HTTP.
          const document = parse(params.query);
          const errors = validate(schema, document);
          if (errors.length) return errors.map(forWebSocket);
          const args: ExecutionArgs = {
            schema,
            operationName: params.operationName,
            document,
            variableValues: params.variables,
            contextValue: await contextFactory(),
            rootValue: { execute, subscribe },
          };
          return args;
        } catch (error) {
          return [forWebSocket(error)];
        }
      },
    },
    wss,
  );
  return wss;
}
