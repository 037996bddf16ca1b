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
import type { ConnectionRegistry } from "../access/connections.js";
import { type AccessGate, authorizationFromConnectionParams, MAX_BODY_BYTES, useAccessGate } from "../access/gate.js";
import type { Config } from "../config.js";
import { type AppContext, createContext, type Services } from "../context.js";
import { buildSchema } from "../graphql/schema.js";
import type { Metrics } from "../ops/metrics.js";
import {
  type ErrorCode,
  isDatabaseUnavailable,
  serviceUnavailable,
  tooManyOperations,
  tooManySubscriptions,
  WS_CLOSE,
} from "./errors.js";
import { renderLocalGraphiQL } from "./graphiql.js";
import { useSseCursorIds } from "./sse-cursor.js";

export { MAX_BODY_BYTES };

interface ServerContext {
  /** Set by the access gate (HTTP, SSE) or by graphql-ws onConnect. */
  access?: Access;
  /** The peer's address, for the failed-authentication limit. */
  clientAddress?: string;
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

/** Variables nested deeper than this are refused (no input type of the schema nests past 4). */
export const MAX_VARIABLE_DEPTH = 64;

/** Walks variable values without recursion (a 5,000-deep value must not overflow the stack). */
function inspectVariables(root: unknown): "nul" | "deep" | null {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth } = item;
    if (typeof value === "string") {
      if (value.includes("\u0000")) return "nul";
    } else if (value !== null && typeof value === "object") {
      if (depth >= MAX_VARIABLE_DEPTH) return "deep";
      for (const inner of Array.isArray(value) ? value : Object.values(value))
        stack.push({ value: inner, depth: depth + 1 });
    }
  }
  return null;
}

function badInput(message: string) {
  return { errors: [createGraphQLError(message, { extensions: { code: "BAD_USER_INPUT" satisfies ErrorCode } })] };
}

/** The problem with an operation's strings and variables, as a result, or null. */
function checkInput(args: ExecutionArgs) {
  let inDocument = false;
  visit(args.document, {
    StringValue(node) {
      if (node.value.includes("\u0000")) inDocument = true;
    },
  });
  const found = inDocument ? "nul" : inspectVariables(args.variableValues);
  if (found === "nul") return badInput("Invalid input: strings must not contain NUL (\\u0000) characters");
  if (found === "deep") return badInput(`Invalid input: variables nested deeper than ${MAX_VARIABLE_DEPTH} levels`);
  return null;
}

/**
 * PostgreSQL text cannot hold NUL: refuse it as bad input anywhere, before any resolver runs; and
 * variables nested past MAX_VARIABLE_DEPTH, before anything walks them.
 */
function rejectBadInput(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = checkInput(args);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = checkInput(args);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}

/** graphql-js appends "Did you mean …?" to some messages; in production that leaks the schema. */
const SUGGESTION = /\s*Did you mean .*$/s;

function withoutSuggestion<E extends Error>(error: E): E | GraphQLError {
  if (!SUGGESTION.test(error.message)) return error;
  const graphql = error instanceof GraphQLError ? error : null;
  return createGraphQLError(error.message.replace(SUGGESTION, ""), {
    nodes: graphql?.nodes,
    path: graphql?.path,
    extensions: graphql?.extensions,
  });
}

/** Removes suggestions from validation errors and from variable errors (an enum value, an input field). */
function hideSuggestions(): Plugin {
  const clean = <R>(result: R): R => {
    if (!result || typeof result !== "object" || !("errors" in result) || !Array.isArray(result.errors)) return result;
    return { ...result, errors: result.errors.map(withoutSuggestion) };
  };
  return {
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => withoutSuggestion(error) as GraphQLError));
      };
    },
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          setResult(clean(result));
        },
      };
    },
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          setResult(clean(result));
        },
      };
    },
  };
}

/** Open subscriptions per key, across SSE and graphql-ws: beyond the cap, TOO_MANY_SUBSCRIPTIONS. */
function limitSubscriptions(registry: ConnectionRegistry): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const context = args.contextValue as unknown as AppContext & { transport?: string };
      const keyId = context.access.keyId;
      if (!registry.acquireSubscription(keyId)) {
        setResultAndStopExecution({
          errors: [tooManySubscriptions(registry.limits.maxSubscriptionsPerKey) as GraphQLError],
        });
        return;
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        registry.releaseSubscription(keyId);
      };
      return {
        onSubscribeResult({ result }) {
          // An error result (a refused subscription) holds nothing open; a stream holds a slot until it ends.
          if (!(Symbol.asyncIterator in Object(result))) {
            release();
            return;
          }
          // SSE: a revocation ends the stream (graphql-ws: it closes the socket, which ends them all).
          if (context.transport === "graphql-ws") return { onEnd: release };
          const stream = result as AsyncIterator<unknown>;
          const unregister = registry.addStream(keyId, () => void stream.return?.());
          return {
            onEnd: () => {
              unregister();
              release();
            },
          };
        },
        onSubscribeError: release,
      };
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
    // The gate bounds the body as announced and as read (PAYLOAD_TOO_LARGE, src/access/gate.ts).
    maxRequestBodySize: false,
    logging: services.logger,
    context: ({ access, request }) => {
      if (!access) throw new Error("no access on the server context: the access gate did not run");
      // A reconnecting EventSource sends the id of the last event it got (a feed cursor).
      return createContext(services, access, { lastEventId: request?.headers?.get("last-event-id") ?? null });
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
      ...(production ? [hideSuggestions()] : []),
      codeVariableErrors(),
      rejectBadInput(),
      metricsPlugin(metrics),
      useSseCursorIds(),
      // Last: it counts only subscriptions that no plugin above refused.
      limitSubscriptions(services.connections),
    ],
  });
}

/** The /graphql request handler: yoga, whose plugins authenticate, rate-limit and bound the request. */
export function createGraphQLHandler(yoga: GraphQLYoga) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    await yoga(req, res, { clientAddress: req.socket.remoteAddress });
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
export function attachWebSocket(
  server: Server,
  yoga: GraphQLYoga,
  gate: AccessGate,
  options: { registry: ConnectionRegistry; maxInFlight: number },
): WebSocketServer {
  const { registry, maxInFlight } = options;
  // A message may be as large as an HTTP body; the gate answers PAYLOAD_TOO_LARGE below that, and
  // ws closes the socket (1009) above it, before buffering more.
  const wss = new WebSocketServer({ server, path: "/graphql", maxPayload: MAX_BODY_BYTES + 64 * 1024 });
  type Extra = { access?: Access };
  useServer<Record<string, unknown> | undefined, Extra>(
    {
      // Key in the connection_init payload (authorization or Authorization, or a headers object,
      // as GraphiQL sends it): unknown → 4401; a role that may not subscribe → 4403; too many
      // failed authentications from the address, or the key's connections all open → 4429.
      onConnect: async (ctx) => {
        const authorization =
          authorizationFromConnectionParams(ctx.connectionParams) ?? ctx.extra.request.headers.authorization ?? null;
        let access: Access | null;
        try {
          access = await gate.authenticate(authorization, ctx.extra.request.socket.remoteAddress);
        } catch (error) {
          const coded = forWebSocket(error);
          ctx.extra.socket.close(
            coded.extensions.code === "RATE_LIMITED" ? WS_CLOSE.tooMany : CloseCode.InternalServerError,
            coded.message.slice(0, 120),
          );
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
        if (!registry.addSocket(access.keyId, ctx.extra.socket)) {
          ctx.extra.socket.close(
            WS_CLOSE.tooMany,
            `Too many connections for this key (limit ${registry.limits.maxConnectionsPerKey})`,
          );
          return false;
        }
        ctx.extra.access = access;
        return true;
      },
      onClose: (ctx) => {
        if (ctx.extra.access) registry.removeSocket(ctx.extra.access.keyId, ctx.extra.socket);
      },
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        // An operation being executed holds its id in ctx.subscriptions with the value null (this one
        // included); an established subscription holds its stream instead and is capped per key.
        // Beyond the bound, answer at once instead of queueing work: a flood must not exhaust memory.
        let executing = 0;
        for (const held of Object.values(ctx.subscriptions)) if (held === null) executing += 1;
        if (executing > maxInFlight) return [forWebSocket(tooManyOperations(maxInFlight))];
        const access = ctx.extra.access as Access;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          access,
          transport: "graphql-ws",
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
