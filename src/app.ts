// Composition root: builds every part once and wires them together. buildApp(config) returns
// { start, stop }; nothing here lives at module scope.
import { randomBytes } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { WebSocketServer } from "ws";
import { createKeyStore, ensureBootstrapAdminKey } from "./access/keys.js";
import { createScheduler, type Scheduler } from "./allocation/scheduler.js";
import { attachWebSocket, createGraphQLHandler, createGraphQLYoga } from "./api/server.js";
import type { Config } from "./config.js";
import type { Services } from "./context.js";
import { type Database, openDatabase } from "./db/database.js";
import { isMigrated } from "./db/migrate.js";
import { createKafkaBridge, type KafkaBridge } from "./kafka/bridge.js";
import { createLogger } from "./logger.js";
import { createMetrics, type Metrics } from "./ops/metrics.js";
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
  liveStream: ChangeStream;
  fanout: Fanout;
  bridge: KafkaBridge | null;
}

export function buildApp(config: Config, options: { logger?: Logger } = {}): App {
  const logger = options.logger ?? createLogger(config);
  const metrics = createMetrics();
  let running: Running | null = null;
  let stopping: Promise<void> | null = null;

  const readiness = async (): Promise<{ ready: boolean; checks: Record<string, boolean> }> => {
    if (!running) return { ready: false, checks: { started: false } };
    const database = await isMigrated(running.database.pool).catch(() => false);
    const stream = running.liveStream.state === "streaming";
    const kafka = running.bridge ? running.bridge.healthy() : true;
    return { ready: database && stream && kafka, checks: { database, stream, kafka } };
  };

  async function handleOps(res: ServerResponse, route: string): Promise<boolean> {
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
      if (running) {
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
    const services: Services = { db: database.db, fanout, logger, allowClockControl: config.allowClockControl };
    const keys = createKeyStore(database.db, config.apiKeys);
    if (config.apiKeys === null) {
      const created = await ensureBootstrapAdminKey(database.db, config.dataDir);
      // Printed once, when created; never logged.
      if (created) console.log(`Created the first admin API key (kept in ${created.file}):\n  ${created.key}\n`);
    }
    const yoga = createGraphQLYoga(services, config, metrics);
    const handleGraphQL = createGraphQLHandler(yoga, keys, config);
    const server = createServer(async (req, res) => {
      const route = (req.url ?? "/").split("?")[0] ?? "/";
      const endTimer = metrics.httpDuration.startTimer({ route });
      res.on("finish", () => {
        endTimer();
        metrics.httpRequests.inc({ route, status: String(res.statusCode) });
      });
      try {
        if (await handleOps(res, route)) return;
        await handleGraphQL(req, res);
      } catch (error) {
        logger.error({ err: error }, "request failed");
        if (!res.headersSent) res.writeHead(500).end();
      }
    });
    const wss = attachWebSocket(server, yoga, keys);

    const scheduler = createScheduler({
      pool: database.pool,
      connectionString: database.connectionString,
      logger,
      onRecomputed: (sites) => metrics.boundarySitesRecomputed.inc(sites),
    });
    // Live fan-out: a temporary slot per process, so every instance serves its own subscribers.
    const liveStream = createChangeStream({
      connectionString: database.connectionString,
      slotName: `scc_live_${randomBytes(5).toString("hex")}`,
      temporary: true,
      logger,
      onTransaction: async (tx) => {
        fanout.publish(tx);
        metrics.streamTransactions.inc({ reader: "live" });
      },
    });
    // Kafka bridge (KAFKA_BROKERS set): the four topics in, setpoint commands out.
    const bridge = config.kafkaBrokers
      ? createKafkaBridge({
          brokers: config.kafkaBrokers,
          topics: config.kafkaTopics,
          groupId: config.kafkaGroupId,
          database,
          logger,
          metrics,
        })
      : null;
    running = { database, server, wss, scheduler, liveStream, fanout, bridge };
    try {
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
      // Stop accepting, end subscriptions, drain requests, then close the stream, pool and server.
      r.server.close();
      r.fanout.closeAll();
      for (const client of r.wss.clients) client.close(1001, "server stopping");
      await new Promise<void>((resolve) => r.wss.close(() => resolve()));
      r.server.closeIdleConnections();
      await r.bridge?.stop();
      await r.scheduler.stop();
      await r.liveStream.stop();
      await r.database.close();
      running = null;
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
