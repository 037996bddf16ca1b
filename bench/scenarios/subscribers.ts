// 3. Commit -> subscriber latency at 1, 100 and 1,000 graphql-ws subscribers, all on one site.
// Each change alternates the site's demand limit between 10 and 16 kW, so the site's one session
// (rated 22 kW) gets a new setpoint and exactly one command, which travels outbox -> WAL ->
// pgoutput slot -> change-stream reader -> fan-out -> graphql-ws -> client. The clients run in a
// child process (subscribers.client.ts), so their work does not queue behind the server's on one
// event loop. Three measures per subscriber and change:
//   commit:   the change written straight to PostgreSQL by the child (autocommit: the reply comes
//             right after the commit), from the reply to receipt, both on the child's clock;
//   send:     the GraphQL mutation recordSiteDemand, from just before fetch() to receipt (adds the
//             HTTP request, GraphQL and the transaction itself);
//   response: from the moment that HTTP response arrived here (after the commit: an upper bound of
//             the commit time; this process also hosts the server, whose fan-out work can delay the
//             response, so the value can be negative).
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import type { BenchDatabase } from "../lib/cluster.js";
import { benchEpoch } from "../lib/data.js";
import { freezeClock } from "../lib/fleet.js";
import type { Row, Scenario, ScenarioContext } from "../lib/scenario.js";
import { AUTH_HEADER, demandInput, RECORD_DEMAND, startService } from "../lib/service.js";
import { fmtMs, fmtNum, percentile, summarize, wallMs } from "../lib/stats.js";
import type { FromClient, ToClient } from "./subscribers.client.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
export const SITE = "sub-site";
export const SUBSCRIPTION = `subscription ($siteId: ID!) { setpointChanged(siteId: $siteId) { sessionId setpointKw commandId } }`;

export class ClientProcess {
  private readonly waiters: { match: (m: FromClient) => boolean; resolve: (m: FromClient) => void }[] = [];
  private failure: string | null = null;

  constructor(readonly child: ChildProcess) {
    child.on("message", (message: FromClient) => {
      if (message.type === "error") this.failure = message.message;
      const index = this.waiters.findIndex((w) => w.match(message));
      if (index >= 0) this.waiters.splice(index, 1)[0]?.resolve(message);
    });
  }

  send(message: ToClient): void {
    this.child.send(message);
  }

  next<T extends FromClient["type"]>(type: T, timeoutMs: number): Promise<Extract<FromClient, { type: T }> | null> {
    return new Promise((resolve) => {
      const waiter = {
        match: (m: FromClient) => m.type === type,
        resolve: (m: FromClient) => {
          clearTimeout(timer);
          resolve(m as Extract<FromClient, { type: T }>);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve(null);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  get error(): string | null {
    return this.failure;
  }

  /** Opens `count` graphql-ws subscriptions to SITE's setpointChanged at `wsUrl`; null: not connected within 120 s. */
  connect(wsUrl: string, count: number) {
    this.send({ type: "connect", url: wsUrl, siteId: SITE, count, query: SUBSCRIPTION, connectionParams: AUTH_HEADER });
    return this.next("connected", 120_000);
  }

  /**
   * The child writes SITE's demand limit straight to PostgreSQL (autocommit). `ack`: its reply after
   * the commit (null: none within `timeoutMs`); `report`: what the subscribers received, to await.
   */
  async sqlChange(databaseUrl: string, limit: number, measuredTs: string, timeoutMs: number) {
    const report = this.next("event", timeoutMs);
    const done = this.next("sql-done", timeoutMs);
    this.send({ type: "sql-change", databaseUrl, siteId: SITE, limit, measuredTs });
    return { ack: await done, report };
  }

  /** Offset of the child's wall clock against ours, from the ping with the shortest round trip. */
  async clockOffset(): Promise<number> {
    let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
    for (let id = 0; id < 20; id++) {
      const t1 = wallMs();
      this.send({ type: "ping", id });
      const pong = await this.next("pong", 2000);
      const t2 = wallMs();
      if (pong && t2 - t1 < best.rtt) best = { rtt: t2 - t1, offset: pong.now - (t1 + t2) / 2 };
    }
    return best.offset;
  }
}

/** One site with one session (rated 22 kW) and a demand sample; `demandAt(k, limit)` is change k. */
export async function seedLoneSession(database: BenchDatabase) {
  const t0 = benchEpoch();
  await freezeClock(database.pool, { prefix: "x", sites: 1, sessionsPerSite: 1, t0 });
  const demandAt = (k: number, limit: number) => ({
    siteId: SITE,
    demandLimitKw: limit,
    currentDemandKw: 5,
    evLoadKw: 5,
    measuredTs: new Date(t0.getTime() + k * 1000),
    phaseCurrentsA: null,
  });
  await insertStream(database.db, INPUT_STREAMS.siteDemand, [demandAt(0, 16)]);
  await insertStream(database.db, INPUT_STREAMS.sessionSamples, [
    {
      sessionId: `${SITE}-s000`,
      chargePointId: `${SITE}-cp000`,
      connectorId: 1,
      siteId: SITE,
      idTag: null,
      ratedPowerKw: 22,
      currentPowerKw: 10,
      socPct: 50,
      energyKwh: 1,
      sessionStartTs: t0,
      sampledTs: t0,
      endedTs: null,
      departureTs: null,
      requestedEnergyKwh: null,
      evMaxKw: null,
      evMinKw: null,
      bidUsdKwh: null,
      priority: null,
      phases: null,
      phase: null,
      voltageV: null,
      transactionId: null,
    },
  ]);
  return { t0, demandAt };
}

/** The child process holding the graphql-ws clients. */
export function spawnClients(ctx: ScenarioContext) {
  const child = fork(path.join(HERE, "subscribers.client.ts"), [], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const removeCleanup = ctx.onCleanup(() => {
    if (child.exitCode === null) child.kill("SIGTERM");
  });
  const clients = new ClientProcess(child);
  return {
    child,
    clients,
    async close() {
      if (child.connected) clients.send({ type: "exit" });
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          resolve();
        }, 5000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      removeCleanup();
    },
  };
}

export const subscribersScenario: Scenario = {
  name: "subscribers",
  title: "commit -> graphql-ws subscriber latency at 1 / 100 / 1,000 subscribers",
  async run(ctx) {
    const database = await ctx.cluster.createDatabase("subscribers");
    const { t0, demandAt } = await seedLoneSession(database);
    const service = await startService(ctx, database);
    const { clients, close: closeClients } = spawnClients(ctx);
    const rows: Row[] = [];
    const data: Record<string, unknown> = {};
    let k = 1;
    try {
      const offset = await clients.clockOffset();
      data.clockOffsetMs = offset;
      const mutations = ctx.quick ? 20 : 50;
      /** Sends one demand change through GraphQL; returns the send and response times and the child's report. */
      const viaGraphql = async (timeoutMs: number) => {
        const limit = k % 2 === 1 ? 10 : 16;
        const input = demandInput(demandAt(k, limit));
        k += 1;
        const event = clients.next("event", timeoutMs);
        const sent = wallMs();
        const res = await fetch(service.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...AUTH_HEADER },
          body: JSON.stringify({ query: RECORD_DEMAND, variables: { input } }),
        });
        const body = (await res.json()) as { errors?: unknown };
        const responded = wallMs();
        if (body.errors) throw new Error(`recordSiteDemand failed: ${JSON.stringify(body.errors)}`);
        return { sent, responded, limit, report: await event };
      };
      /** The same change written to PostgreSQL by the child; times on the child's clock. */
      const viaSql = async (timeoutMs: number) => {
        const limit = k % 2 === 1 ? 10 : 16;
        const measuredTs = new Date(t0.getTime() + k * 1000).toISOString();
        k += 1;
        const { ack, report } = await clients.sqlChange(database.url, limit, measuredTs, timeoutMs);
        if (!ack) throw new Error(`the child's SQL write did not return: ${clients.error ?? "timeout"}`);
        return { committed: ack.committed, limit, report: await report };
      };

      for (const count of [1, 100, 1000]) {
        ctx.log(`subscribers: connecting ${count} graphql-ws client(s)`);
        const connected = await clients.connect(service.wsUrl, count);
        if (!connected) throw new Error(`${count} clients did not connect in 120 s: ${clients.error ?? "timeout"}`);
        // Primers until one command reaches every client: then every subscription is registered.
        let primed = false;
        for (let attempt = 0; attempt < 20 && !primed; attempt++) {
          primed = (await viaGraphql(3000)).report !== null;
        }
        if (!primed) throw new Error(`subscriptions never all received a command: ${clients.error ?? "timeout"}`);
        for (let w = 0; w < 3; w++) {
          await viaGraphql(10_000);
          await viaSql(10_000);
        }

        ctx.log(`subscribers: ${mutations} GraphQL mutations and ${mutations} SQL writes with ${count} subscriber(s)`);
        const fromCommit: number[] = [];
        const fromSend: number[] = [];
        const fromResponse: number[] = [];
        const lastFromCommit: number[] = [];
        const roundTrip: number[] = [];
        let lost = 0;
        for (let m = 0; m < mutations; m++) {
          const g = await viaGraphql(10_000);
          if (!g.report) lost += 1;
          else {
            if (g.report.setpointKw !== g.limit)
              throw new Error(`expected a ${g.limit} kW command, got ${g.report.setpointKw}`);
            for (const t of g.report.times) {
              fromSend.push(t - offset - g.sent);
              fromResponse.push(t - offset - g.responded);
            }
            roundTrip.push(g.responded - g.sent);
          }
          const q = await viaSql(10_000);
          if (!q.report) lost += 1;
          else {
            if (q.report.setpointKw !== q.limit)
              throw new Error(`expected a ${q.limit} kW command, got ${q.report.setpointKw}`);
            for (const t of q.report.times) fromCommit.push(t - q.committed);
            lastFromCommit.push(Math.max(...q.report.times) - q.committed);
          }
        }
        const c = summarize(fromCommit);
        const s = summarize(fromSend);
        const r = summarize(fromResponse);
        const last = summarize(lastFromCommit);
        const who = count === 1 ? "1 subscriber" : `${fmtNum(count)} subscribers`;
        rows.push(
          { metric: `${who}: commit -> receipt p50 / p99`, value: `${fmtMs(c.p50)} / ${fmtMs(c.p99)}` },
          { metric: `${who}: GraphQL mutation sent -> receipt p50 / p99`, value: `${fmtMs(s.p50)} / ${fmtMs(s.p99)}` },
          { metric: `${who}: HTTP response -> receipt p50 / p99`, value: `${fmtMs(r.p50)} / ${fmtMs(r.p99)}` },
        );
        if (count > 1) {
          rows.push({
            metric: `${who}: commit -> last subscriber p50 / p99`,
            value: `${fmtMs(last.p50)} / ${fmtMs(last.p99)}`,
          });
        }
        if (lost > 0) rows.push({ metric: `${who}: commands not seen by all`, value: String(lost) });
        data[`subscribers_${count}`] = {
          changes: mutations,
          lost,
          commitToReceiptMs: c,
          commitToLastSubscriberMs: last,
          sendToReceiptMs: s,
          responseToReceiptMs: r,
          mutationRoundTripMs: summarize(roundTrip),
          p999CommitToReceiptMs: percentile(fromCommit, 99.9),
          clientConnectMs: connected.ms,
        };
        clients.send({ type: "disconnect" });
        await clients.next("disconnected", 60_000);
      }
      const http = (data.subscribers_1 as { mutationRoundTripMs: { p50: number; p99: number } } | undefined)
        ?.mutationRoundTripMs;
      if (http) {
        rows.push({
          metric: "recordSiteDemand HTTP round trip p50 / p99",
          value: `${fmtMs(http.p50)} / ${fmtMs(http.p99)}`,
        });
      }
      return { rows, data };
    } finally {
      await closeClients();
      await service.stop();
      await database.drop();
    }
  },
};
