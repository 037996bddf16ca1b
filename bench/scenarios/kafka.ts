// 4. Kafka in -> command out: session samples produced with kafkajs to the sessions topic, the
// service's bridge consumes them (eachBatch, the partitions' batches merged into one INSERT), the triggers
// recompute, the command publisher reads the outbox through its durable slot and produces to the
// commands topic, where a kafkajs consumer receives them. Needs KAFKA_BROKERS or a local broker
// from scripts/kafka-up.sh; otherwise the row says "skipped: <reason>".
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Consumer, Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import type { KafkaTopics } from "../../src/config.js";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import { benchFleet, chunk, roundSamples, siteDemand } from "../lib/data.js";
import { freezeClock, verifySetpoints } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { startService } from "../lib/service.js";
import { fmtMs, fmtNum, sleep, summarize, wallMs } from "../lib/stats.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

function localBrokerRunning(): boolean {
  try {
    const pid = Number(readFileSync(path.join(ROOT, ".kafka/kafka.pid"), "utf8").trim());
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Brokers to use and whether this run started the local one; or why Kafka is not usable. */
export function brokers(): { brokers: string[]; startedHere: boolean } | { skipped: string } {
  if (process.env.KAFKA_BROKERS)
    return { brokers: process.env.KAFKA_BROKERS.split(",").map((b) => b.trim()), startedHere: false };
  if (!onPath("java"))
    return { skipped: "KAFKA_BROKERS not set and java not installed (scripts/kafka-up.sh needs it)" };
  const wasRunning = localBrokerRunning();
  const script = path.join(ROOT, "scripts/kafka-up.sh");
  const [command, args] = onPath("flock")
    ? ["flock", [path.join(ROOT, ".kafka/up.lock"), "bash", script]]
    : ["bash", [script]];
  try {
    execFileSync(command as string, args as string[], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 180_000,
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split("\n").at(-1) ?? "";
    return { skipped: `scripts/kafka-up.sh failed: ${stderr || (error as Error).message}` };
  }
  return { brokers: [`127.0.0.1:${process.env.KAFKA_PORT ?? "9092"}`], startedHere: !wasRunning };
}

export function sampleMessage(s: ReturnType<typeof roundSamples>[number]) {
  return {
    session_id: s.sessionId,
    charge_point_id: s.chargePointId,
    connector_id: s.connectorId,
    site_id: s.siteId,
    id_tag: s.idTag,
    rated_power_kw: s.ratedPowerKw,
    current_power_kw: s.currentPowerKw,
    soc_pct: s.socPct,
    energy_kwh: s.energyKwh,
    session_start_ts: s.sessionStartTs.toISOString(),
    sampled_ts: s.sampledTs.toISOString(),
  };
}

export const kafkaScenario: Scenario = {
  name: "kafka",
  title: "Kafka sessions topic -> bridge -> ocpp.setpoint.commands",
  async run(ctx) {
    const found = brokers();
    if ("skipped" in found) return { rows: [], data: {}, skipped: found.skipped };
    if (found.startedHere) {
      // Stop the broker again only if this run started it (like kafka:down).
      ctx.onCleanup(() => {
        spawnSync("bash", [path.join(ROOT, "scripts/kafka-down.sh")], { cwd: ROOT, stdio: "ignore" });
      });
    }
    const id = `bench-${randomBytes(4).toString("hex")}`;
    const topics: KafkaTopics = {
      sessionSamples: `${id}.sessions`,
      siteDemand: `${id}.demand`,
      priceSignals: `${id}.prices`,
      drSignals: `${id}.dr`,
      setpointCommands: `${id}.commands`,
      failsafeProfiles: `${id}.failsafe`,
    };
    const kafka = new Kafka({ clientId: "scc-bench", brokers: found.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const allTopics = [...Object.values(topics), ...Object.values(topics).map((t) => `${t}.dlq`)];
    const removeTopics = ctx.onCleanup(async () => {
      await admin.deleteTopics({ topics: allTopics }).catch(() => {});
      await admin.disconnect().catch(() => {});
    });
    await admin.createTopics({
      topics: allTopics.map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });

    const database = await ctx.cluster.createDatabase("kafka");
    const sites = ctx.quick ? 200 : 1000;
    const rounds = ctx.quick ? 2 : 3;
    const fleet = benchFleet(sites);
    let service: Awaited<ReturnType<typeof startService>> | null = null;
    let producer: Producer | null = null;
    let consumer: Consumer | null = null;
    try {
      await freezeClock(database.pool, fleet);
      await insertStream(database.db, INPUT_STREAMS.siteDemand, siteDemand(fleet)); // the sessions arrive over Kafka
      service = await startService(ctx, database, {
        kafkaBrokers: found.brokers,
        kafkaTopics: topics,
        kafkaGroupId: `${id}-coordinator`,
      });
      const readyUrl = service.url.replace(/\/graphql$/, "/readyz");
      const deadline = Date.now() + 60_000;
      while (
        !(await fetch(readyUrl).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        if (Date.now() > deadline) throw new Error("the service did not become ready (Kafka bridge) in 60 s");
        await sleep(200);
      }

      // The CPMS side: reads the commands topic from the beginning.
      const received = new Map<string, number>(); // command_id -> receipt
      const latencies: number[] = [];
      let produceTimes = new Map<string, number>(); // session_id -> produce time this round
      consumer = kafka.consumer({ groupId: `${id}-cpms`, maxWaitTimeInMs: 20 });
      await consumer.connect();
      await consumer.subscribe({ topics: [topics.setpointCommands], fromBeginning: true });
      const joined = new Promise<void>((resolve) => consumer?.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.run({
        eachBatch: async ({ batch }) => {
          const at = wallMs();
          for (const message of batch.messages) {
            const command = JSON.parse(message.value?.toString() ?? "{}") as { command_id: string; session_id: string };
            if (received.has(command.command_id)) continue;
            received.set(command.command_id, at);
            const producedAt = produceTimes.get(command.session_id);
            if (producedAt !== undefined) latencies.push(at - producedAt);
          }
        },
      });
      await joined;

      producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
      await producer.connect();
      const raw = async () =>
        (await database.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM session_samples_raw")).rows[0]?.n ??
        0;
      const lastId = async () =>
        Number(
          (await database.pool.query<{ id: string | null }>("SELECT max(id) AS id FROM session_samples_raw")).rows[0]
            ?.id ?? 0,
        );
      /** Waits until `count` more samples are stored (max(id) is an index probe; count(*) confirms). */
      const stored = async (fromId: number, fromCount: number, count: number, timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          if ((await lastId()) >= fromId + count && (await raw()) >= fromCount + count) return;
          if (Date.now() > deadline) throw new Error(`only ${(await raw()) - fromCount} of ${count} samples stored`);
          await sleep(10);
        }
      };
      const commandsInDb = async () =>
        (await database.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM setpoint_commands")).rows[0]?.n ?? 0;

      const burstLatencies: number[] = [];
      const perRound: {
        samples: number;
        produceMs: number;
        ingestMs: number;
        endToEndMs: number;
        commands: number;
      }[] = [];
      for (let round = 0; round < rounds; round++) {
        ctx.log(`kafka: round ${round + 1}/${rounds}, ${fmtNum(sites * 20)} samples`);
        const samples = roundSamples(fleet, round);
        const before = await raw();
        const idBefore = await lastId();
        const commandsBefore = await commandsInDb();
        produceTimes = new Map();
        const start = wallMs();
        // Up to 4 sends of 500 messages in flight, keyed by site (a site's samples stay in order).
        const chunks = chunk(samples, 500);
        let next = 0;
        const p = producer;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < chunks.length) {
              const part = chunks[next++] as typeof samples;
              const at = wallMs();
              for (const s of part) produceTimes.set(s.sessionId, at);
              await p.send({
                topic: topics.sessionSamples,
                acks: -1,
                messages: part.map((s) => ({ key: s.siteId, value: JSON.stringify(sampleMessage(s)) })),
              });
            }
          }),
        );
        const produced = wallMs();
        const roundDeadline = Date.now() + 180_000;
        await stored(idBefore, before, samples.length, 180_000);
        const ingested = wallMs();
        const expected = await commandsInDb();
        while (received.size < expected) {
          if (Date.now() > roundDeadline)
            throw new Error(`only ${received.size} of ${expected} commands arrived on Kafka`);
          await sleep(10);
        }
        let done = 0;
        for (const t of received.values()) done = Math.max(done, t);
        perRound.push({
          samples: samples.length,
          produceMs: produced - start,
          ingestMs: ingested - start,
          endToEndMs: done - start,
          commands: expected - commandsBefore,
        });
        burstLatencies.push(...latencies);
        latencies.length = 0;
      }
      // The SQL path in the same database at the Kafka bridge's mean batch size (one writer, the
      // next rounds of the same fleet): the baseline of the samples-stored ratio.
      const burstBatches = await database.pool.query<{ statements: number; samples: number }>(
        "SELECT count(DISTINCT xmin::text)::int AS statements, count(*)::int AS samples FROM session_samples_raw",
      );
      const burstInfo = burstBatches.rows[0] ?? { statements: 1, samples: 0 };
      const sqlBatch = Math.max(1, Math.round(burstInfo.samples / Math.max(1, burstInfo.statements)));
      let sqlSamples = 0;
      let sqlMs = 0;
      for (let round = rounds; round < 2 * rounds; round++) {
        ctx.log(`kafka: SQL path baseline, round ${round - rounds + 1}/${rounds}, batches of ${fmtNum(sqlBatch)}`);
        const samples = roundSamples(fleet, round);
        const start = wallMs();
        for (const part of chunk(samples, sqlBatch))
          await insertStream(database.db, INPUT_STREAMS.sessionSamples, part);
        sqlMs += wallMs() - start;
        sqlSamples += samples.length;
      }
      const sqlThroughput = (sqlSamples / sqlMs) * 1000;
      // Let the command publisher catch up with the baseline's commands before the paced run.
      {
        const expected = await commandsInDb();
        const deadline = Date.now() + 120_000;
        while (received.size < expected && Date.now() < deadline) await sleep(20);
      }
      // Paced: 5 sites' 20 samples every 20 ms (5,000 samples/s), over the fleet `passes` times.
      const pacedSites = sites;
      // One pass: a session is produced once, so its command's latency is unambiguous.
      const passes = 1;
      ctx.log(`kafka: paced 5,000 samples/s, ${pacedSites} sites x ${passes} passes, 5 sites every 20 ms`);
      const pacedLatencies: number[] = [];
      const pacedToStored: number[] = [];
      const pacedStoredToReceived: number[] = [];
      {
        const samples = Array.from({ length: passes }, (_, pass) =>
          roundSamples(fleet, 2 * rounds + pass, { to: pacedSites }),
        ).flat();
        const before = await raw();
        const idBefore = await lastId();
        const commandsBefore = await commandsInDb();
        const receivedBefore = received.size;
        latencies.length = 0;
        produceTimes = new Map();
        const start = wallMs();
        for (let i = 0; i * 100 < samples.length; i++) {
          const wait = start + i * 20 - wallMs();
          if (wait > 0) await sleep(wait);
          const part = samples.slice(i * 100, i * 100 + 100);
          const at = wallMs();
          for (const s of part) produceTimes.set(s.sessionId, at);
          await producer.send({
            topic: topics.sessionSamples,
            acks: -1,
            messages: part.map((s) => ({ key: s.siteId, value: JSON.stringify(sampleMessage(s)) })),
          });
        }
        const deadline = Date.now() + 60_000;
        await stored(idBefore, before, samples.length, 60_000);
        const expected = (await commandsInDb()) - commandsBefore;
        while (received.size - receivedBefore < expected) {
          if (Date.now() > deadline)
            throw new Error(`paced: ${received.size - receivedBefore} of ${expected} commands`);
          await sleep(10);
        }
        pacedLatencies.push(...latencies);
        // Split at the bridge's transaction start (setpoint_commands.created_at = now()).
        const created = await database.pool.query<{ id: string; session_id: string; created: number }>(
          `SELECT command_id::text AS id, session_id, extract(epoch FROM created_at)::float8 * 1000 AS created
           FROM setpoint_commands ORDER BY seq OFFSET $1`,
          [commandsBefore],
        );
        for (const c of created.rows) {
          const producedAt = produceTimes.get(c.session_id);
          const receivedAt = received.get(c.id);
          if (producedAt === undefined || receivedAt === undefined) continue;
          pacedToStored.push(c.created - producedAt);
          pacedStoredToReceived.push(receivedAt - c.created);
        }
      }
      const batches = await database.pool.query<{ statements: number; samples: number }>(
        "SELECT count(DISTINCT xmin::text)::int AS statements, count(*)::int AS samples FROM session_samples_raw",
      );
      const batchInfo = batches.rows[0];
      const samples = perRound.reduce((a, r) => a + r.samples, 0);
      const ingestMs = perRound.reduce((a, r) => a + r.ingestMs, 0);
      const endToEndMs = perRound.reduce((a, r) => a + r.endToEndMs, 0);
      const l = summarize(burstLatencies);
      const paced = summarize(pacedLatencies);
      const toStored = summarize(pacedToStored);
      const storedToReceived = summarize(pacedStoredToReceived);
      const verification = await verifySetpoints(database.pool, [
        `site-000000`,
        `site-${String(sites - 1).padStart(6, "0")}`,
      ]);
      const rows: Row[] = [
        {
          metric: `${rounds} rounds of ${fmtNum(sites)} sites x 20: samples stored`,
          value: `${fmtNum((samples / ingestMs) * 1000)} samples/s`,
        },
        {
          metric: "  of which producing the rounds (the bench's kafkajs producer, acks=all)",
          value: `${fmtNum((perRound.reduce((a, r) => a + r.produceMs, 0) / ingestMs) * 100)} % of the time`,
        },
        { metric: "produce -> last command received", value: `${fmtNum((samples / endToEndMs) * 1000)} samples/s` },
        {
          metric: `burst: produce -> command p50 / p99 (n=${fmtNum(l.n)})`,
          value: `${fmtMs(l.p50)} / ${fmtMs(l.p99)}`,
        },
        {
          metric: `SQL path, same rounds, one writer, batches of ${fmtNum(sqlBatch)}: samples stored`,
          value: `${fmtNum(sqlThroughput)} samples/s`,
        },
        {
          metric: "Kafka samples stored / SQL path at the same batch size",
          value: `${fmtNum((samples / ingestMs) * 1000)} / ${fmtNum(sqlThroughput)} samples/s`,
          baseline: `${fmtNum(sqlThroughput)} samples/s`,
          ratio: `${(((samples / ingestMs) * 1000) / sqlThroughput).toFixed(2)}x`,
        },
        {
          metric: `paced 5,000 samples/s: produce -> command p50 / p99 (n=${fmtNum(paced.n)})`,
          value: `${fmtMs(paced.p50)} / ${fmtMs(paced.p99)}`,
        },
        {
          metric: "  paced: produce -> bridge transaction start p50 / p99",
          value: `${fmtMs(toStored.p50)} / ${fmtMs(toStored.p99)}`,
        },
        {
          metric: "  paced: bridge transaction start -> command received p50 / p99",
          value: `${fmtMs(storedToReceived.p50)} / ${fmtMs(storedToReceived.p99)}`,
        },
        {
          metric: "burst rounds: bridge transactions (mean samples per INSERT)",
          value: `${fmtNum(burstInfo.statements)} (${fmtNum(sqlBatch)})`,
        },
        { metric: "setpoints current", value: verification.ok ? "ok" : `FAILED ${JSON.stringify(verification)}` },
      ];
      return {
        rows,
        data: {
          brokers: found.brokers,
          topics,
          perRound,
          latencyMs: l,
          pacedLatencyMs: paced,
          pacedProduceToTransactionStartMs: toStored,
          pacedTransactionStartToReceivedMs: storedToReceived,
          batches: batchInfo,
          burstBatches: burstInfo,
          sql: { batch: sqlBatch, samples: sqlSamples, ms: sqlMs, throughput: sqlThroughput },
          commands: received.size,
          verification,
        },
      };
    } finally {
      await consumer?.disconnect().catch(() => {});
      await producer?.disconnect().catch(() => {});
      await service?.stop();
      await database.drop();
      removeTopics();
      await admin.deleteTopics({ topics: allTopics }).catch(() => {});
      await admin.disconnect().catch(() => {});
    }
  },
};
