// Composition root: builds every part once and wires them together. buildApp(config) returns
// { start, stop }; nothing here lives at module scope.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { WebSocketServer } from "ws";
import { createConnectionRegistry, watchRevocations } from "./access/connections.js";
import { type AccessGate, createAccessGate } from "./access/gate.js";
import { createScheduler, type Scheduler } from "./allocation/scheduler.js";
import { type ErrorCode, RETRY_AFTER_SECONDS, serviceUnavailable } from "./api/errors.js";
import { GRAPHIQL_ASSETS_PATH, serveGraphiQLAsset } from "./api/graphiql.js";
import { attachWebSocket, createGraphQLHandler, createGraphQLYoga } from "./api/server.js";
import type { Config } from "./config.js";
import type { Services } from "./context.js";
import { type Database, openDatabase } from "./db/database.js";
import { isMigrated } from "./db/migrate.js";
import { FeedSequencer } from "./feed/sequencer.js";
import { createKafkaBridge, type KafkaBridge } from "./kafka/bridge.js";
import { createKeyStore, ensureBootstrapAdminKey } from "./keys/keys.js";
import { coerceError } from "./lib/errors.js";
import { createLogger } from "./logger.js";
import { createMetrics, type Metrics } from "./ops/metrics.js";
import { OPS_PAGE_ASSETS_PATH, serveOpsPage } from "./ops-page/route.js";
import { createRetentionJob, type RetentionJob } from "./storage/retention.js";
import { createStorageMetrics } from "./storage/storage-metrics.js";
import { type ChangeStream, createChangeStream } from "./stream/change-stream.js";
import { Fanout } from "./stream/fanout.js";

export interface App {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
  /** Available after start (tests and tools). */
  readonly database: Database;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

interface Running {
  database: Database;
  server: Server;
  wss: WebSocketServer;
  scheduler: Scheduler;
  retention: RetentionJob;
  liveStream: ChangeStream;
  sequencer: FeedSequencer;
  fanout: Fanout;
  bridge: KafkaBridge | null;
  /** HTTP requests being answered; stop() waits for them (up to SHUTDOWN_DRAIN_MS). */
  inFlight: Set<Promise<void>>;
  stopRevocationWatch: () => void;
  gate: AccessGate;
}

/** How often the keys of open graphql-ws sockets are checked for a revocation made elsewhere. */
export const REVOCATION_CHECK_MS = 1_000;

const KNOWN_ROUTES = new Set(["/", "/graphql", "/healthz", "/readyz", "/metrics"]);

/** The route label of a metric: a known route, or "other", so random paths cannot grow /metrics. */
export function routeLabel(route: string): string {
  if (KNOWN_ROUTES.has(route)) return route;
  if (route.startsWith(OPS_PAGE_ASSETS_PATH)) return OPS_PAGE_ASSETS_PATH;
  return route.startsWith(GRAPHIQL_ASSETS_PATH) ? GRAPHIQL_ASSETS_PATH : "other";
}

export interface AppOptions {
  logger?: Logger;
  /** Called before each database lookup of an API key (tests count them). */
  onKeyLookup?: () => void;
}

/** How a readiness check reads: true/false, or "disabled" for a part that is not configured. */
export type Check = boolean | "disabled";

/** Waits for the requests in flight (and those that start meanwhile); false when time ran out. */
async function drain(inFlight: Set<Promise<void>>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (inFlight.size > 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, left);
      }),
    ]);
    clearTimeout(timer);
  }
  return true;
}

export function buildApp(config: Config, options: AppOptions = {}): App {
  const logger = options.logger ?? createLogger(config);
  const metrics = createMetrics();
  const storageMetrics = createStorageMetrics(metrics.registry);
  let running: Running | null = null;
  let stopping: Promise<void> | null = null;

  let draining = false;

  const readiness = async (): Promise<{ ready: boolean; checks: Record<string, Check> }> => {
    if (!running) return { ready: false, checks: { started: false } };
    if (draining) return { ready: false, checks: { stopping: true } };
    const database = await isMigrated(running.database.pool).catch(() => false);
    const stream = running.liveStream.state === "streaming";
    const kafka: Check = running.bridge ? running.bridge.healthy() : "disabled";
    return { ready: database && stream && kafka !== false, checks: { database, stream, kafka } };
  };

  /** METRICS_REQUIRE_KEY: 401 without a known key, 403 for a key that may not read every site. */
  async function metricsRefused(req: IncomingMessage, res: ServerResponse, gate: AccessGate): Promise<boolean> {
    const access = await gate.authenticate(req.headers.authorization, req.socket.remoteAddress);
    const refuse = (status: number, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers }).end(`${message}\n`);
      return true;
    };
    if (!access)
      return refuse(401, "Unauthorized: /metrics needs Authorization: Bearer <key> (METRICS_REQUIRE_KEY)", {
        "www-authenticate": 'Bearer realm="smart-charging"',
      });
    if (access.role === "ingest" || access.sites !== null)
      return refuse(403, "Forbidden: /metrics needs a key of role admin, cpms or reader that is not limited to sites");
    return false;
  }

  async function handleOps(req: IncomingMessage, res: ServerResponse, route: string): Promise<boolean> {
    if (route === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }));
      return true;
    }
    if (route === "/readyz") {
      const result = await readiness();
      res.writeHead(result.ready ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(result));
      return true;
    }
    if (route === "/metrics") {
      if (running && config.metricsRequireKey && (await metricsRefused(req, res, running.gate))) return true;
      if (running) {
        await metrics.domain.refresh(running.database.db);
        metrics.subscribers.set(running.fanout.stats.subscribers);
        metrics.subscribersClosedTooSlow.set(running.fanout.stats.closedTooSlow);
        metrics.streamState.set({ reader: "live" }, running.liveStream.state === "streaming" ? 1 : 0);
      }
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(await metrics.registry.metrics());
      return true;
    }
    return false;
  }

  async function start(): Promise<{ url: string; port: number }> {
    if (running) throw new Error("already started");
    const database = await openDatabase(config, logger);
    const fanout = new Fanout();
    const connections = createConnectionRegistry({
      maxConnectionsPerKey: config.maxConnectionsPerKey,
      maxSubscriptionsPerKey: config.maxSubscriptionsPerKey,
    });
    const services: Services = {
      db: database.db,
      fanout,
      logger,
      allowClockControl: config.allowClockControl,
      connections,
    };
    const keys = createKeyStore(database.db, config.apiKeys, { onLookup: options.onKeyLookup });
    if (config.apiKeys === null) {
      const created = await ensureBootstrapAdminKey(database.db, config.dataDir);
      // Printed once, when created; never logged.
      if (created) console.log(`Created the first admin API key (kept in ${created.file}):\n  ${created.key}\n`);
    }
    const gate = createAccessGate(keys, {
      rateLimitPerSecond: config.rateLimitPerSecond,
      authFailuresPerMinute: config.authFailuresPerMinute,
    });
    const yoga = createGraphQLYoga(services, config, metrics, gate);
    const handleGraphQL = createGraphQLHandler(yoga);
    const graphiql = config.nodeEnv !== "production";
    const inFlight = new Set<Promise<void>>();
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const route = (req.url ?? "/").split("?")[0] ?? "/";
      const label = routeLabel(route);
      const endTimer = metrics.httpDuration.startTimer({ route: label });
      res.on("finish", () => {
        endTimer();
        metrics.httpRequests.inc({ route: label, status: String(res.statusCode) });
      });
      try {
        if (await handleOps(req, res, route)) return;
        if (draining && route === "/graphql") {
          // A request on a kept-alive connection after stop() began: refuse it, retryable, and close.
          const error = serviceUnavailable("the server is stopping");
          res
            .writeHead(503, {
              "content-type": "application/json",
              "retry-after": String(RETRY_AFTER_SECONDS),
              connection: "close",
            })
            .end(
              JSON.stringify({
                errors: [{ message: error.message, extensions: { code: "SERVICE_UNAVAILABLE" satisfies ErrorCode } }],
              }),
            );
          return;
        }
        if (graphiql && (await serveGraphiQLAsset(route, res))) return;
        if (await serveOpsPage(route, res)) return;
        await handleGraphQL(req, res);
      } catch (error) {
        logger.error({ err: coerceError(error) }, "request failed");
        if (!res.headersSent) res.writeHead(500).end();
      }
    };
    const server = createServer((req, res) => {
      const done = handle(req, res).then(() =>
        // The handler returns when the body is handed over; the request is over when it is sent.
        res.writableFinished || res.destroyed
          ? undefined
          : new Promise<void>((resolve) => {
              res.once("close", resolve);
              res.once("finish", resolve);
            }),
      );
      inFlight.add(done);
      metrics.httpInFlight.inc();
      void done.finally(() => {
        inFlight.delete(done);
        metrics.httpInFlight.dec();
      });
    });
    const wss = attachWebSocket(server, yoga, gate, { registry: connections, maxInFlight: config.wsMaxInFlight });
    const stopRevocationWatch = watchRevocations(database.db, connections, {
      intervalMs: REVOCATION_CHECK_MS,
      onError: (error) => logger.warn({ err: coerceError(error) }, "revocation check failed"),
    });

    const scheduler = createScheduler({
      pool: database.pool,
      connectionString: database.connectionString,
      logger,
      onRecomputed: (sites) => metrics.boundarySitesRecomputed.inc(sites),
    });
    // Bounded storage: partitions ahead, old ones dropped, abandoned slots reported and dropped.
    const retention = createRetentionJob({
      pool: database.pool,
      config: config.retention,
      logger,
      metrics: storageMetrics,
    });
    // Live fan-out: a temporary slot per process, so every instance serves its own subscribers.
    // The sequencer fills any gap of the stream from the log (a reconnect, a lost slot).
    const sequencer = new FeedSequencer(database.db, (events) => fanout.publish({ events }), logger);
    const liveStream = createChangeStream({
      connectionString: database.connectionString,
      slotName: `scc_live_${randomBytes(5).toString("hex")}`,
      temporary: true,
      logger,
      onTransaction: async (tx) => {
        await sequencer.onTransaction(tx);
        metrics.streamTransactions.inc({ reader: "live" });
        metrics.domain.observe(tx);
      },
    });
    liveStream.onStateChange((state) => {
      if (state === "streaming") sequencer.onStreaming();
    });
    // Kafka bridge (KAFKA_BROKERS set): the four topics in, setpoint commands out.
    const bridge = config.kafkaBrokers
      ? createKafkaBridge({
          brokers: config.kafkaBrokers,
          topics: config.kafkaTopics,
          groupId: config.kafkaGroupId,
          batch: { maxMessages: config.kafkaBatchMaxMessages, waitMs: config.kafkaBatchWaitMs },
          topicPartitions: config.kafkaTopicPartitions,
          database,
          logger,
          metrics,
          fanout,
        })
      : null;
    running = {
      database,
      server,
      wss,
      scheduler,
      retention,
      liveStream,
      sequencer,
      fanout,
      bridge,
      inFlight,
      stopRevocationWatch,
      gate,
    };
    try {
      await retention.start();
      await liveStream.start();
      await scheduler.start();
      await bridge?.start();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, () => resolve());
      });
    } catch (error) {
      await stop();
      throw error;
    }
    const port = (server.address() as AddressInfo).port;
    const url = `http://localhost:${port}/graphql`;
    logger.info({ url }, "smart-charging coordinator ready");
    return { url, port };
  }

  async function stop(): Promise<void> {
    if (!running) return;
    stopping ??= (async () => {
      const r = running as Running;
      // Stop accepting; end subscriptions; let requests in flight finish (bounded by
      // SHUTDOWN_DRAIN_MS) while idle keep-alive connections are closed and new requests on busy
      // ones are refused; then close every connection, the bridge, the stream, the pool and the
      // embedded server, in that order, so no request meets a closed pool.
      draining = true;
      r.stopRevocationWatch();
      const closed = new Promise<void>((resolve) => r.server.close(() => resolve()));
      r.fanout.closeAll();
      for (const client of r.wss.clients) client.close(1001, "server stopping");
      await new Promise<void>((resolve) => r.wss.close(() => resolve()));
      r.server.closeIdleConnections();
      const drained = await drain(r.inFlight, config.shutdownDrainMs);
      if (!drained)
        logger.warn({ requests: r.inFlight.size, drainMs: config.shutdownDrainMs }, "requests cut off at stop");
      r.server.closeAllConnections();
      await closed;
      await r.bridge?.stop();
      await r.scheduler.stop();
      await r.retention.stop();
      await r.liveStream.stop();
      r.sequencer.stop();
      await r.database.close();
      running = null;
      draining = false;
      logger.info("stopped");
    })();
    await stopping;
    stopping = null;
  }

  return {
    start,
    stop,
    get database() {
      if (!running) throw new Error("not started");
      return running.database;
    },
    logger,
    metrics,
  };
}
