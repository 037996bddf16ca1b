// 4b. Kafka with two service instances on one database (opt-in: --only=kafka-instances): the same
// burst rounds stored by one instance (in-process), then by two (the second a child process in the
// same consumer group), then a paced load during which the second is killed with SIGKILL: how long
// until the first stores the killed instance's partitions, and that every sample is stored once.
import { randomBytes } from "node:crypto";
import { type Admin, AssignerProtocol, Kafka, logLevel, Partitioners } from "kafkajs";
import type { KafkaTopics } from "../../src/config.js";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import { type ChildService, spawnService } from "../../test/helpers/child-service.js";
import { until } from "../../test/helpers/until.js";
import { benchFleet, chunk, roundSamples, siteDemand } from "../lib/data.js";
import { freezeClock } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { BENCH_KEY, startService } from "../lib/service.js";
import { fmtMs, fmtNum, sleep, wallMs } from "../lib/stats.js";
import { brokers, sampleMessage } from "./kafka.js";

const PARTITIONS = 6;

/** Group members -> partitions of `topic` (empty while the group rebalances). */
async function members(admin: Admin, groupId: string, topic: string): Promise<Map<string, number[]>> {
  const { groups } = await admin.describeGroups([groupId]);
  const out = new Map<string, number[]>();
  const group = groups[0];
  if (group?.state !== "Stable") return out;
  for (const m of group.members) {
    out.set(m.memberId, AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []);
  }
  return out;
}

export const kafkaInstancesScenario: Scenario = {
  name: "kafka-instances",
  title: "Kafka: one vs two service instances on one database, and the takeover after a kill -9",
  optIn: true,
  async run(ctx) {
    const found = brokers();
    if ("skipped" in found) return { rows: [], data: {}, skipped: found.skipped };
    const id = `bench2-${randomBytes(4).toString("hex")}`;
    const topics: KafkaTopics = {
      sessionSamples: `${id}.sessions`,
      siteDemand: `${id}.demand`,
      priceSignals: `${id}.prices`,
      drSignals: `${id}.dr`,
      failsafeProfiles: `${id}.failsafe`,
      setpointCommands: `${id}.commands`,
    };
    const groupId = `${id}-coordinator`;
    const kafka = new Kafka({ clientId: "scc-bench", brokers: found.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const allTopics = [...Object.values(topics), ...Object.values(topics).map((t) => `${t}.dlq`)];
    await admin.createTopics({
      topics: allTopics.map((topic) => ({ topic, numPartitions: PARTITIONS })),
      waitForLeaders: true,
    });
    const database = await ctx.cluster.createDatabase("kafka2");
    const sites = ctx.quick ? 300 : 1000;
    const rounds = 2;
    const fleet = benchFleet(sites);
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    let child: ChildService | null = null;
    const removeChild = ctx.onCleanup(async () => {
      await child?.kill();
    });
    let produced = 0;
    const produce = async (samples: ReturnType<typeof roundSamples>) => {
      // Up to 4 sends of 500 in flight, keyed by site (a site's samples stay in one partition).
      const chunks = chunk(samples, 500);
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < chunks.length) {
            const part = chunks[next++] as typeof samples;
            await producer.send({
              topic: topics.sessionSamples,
              acks: -1,
              messages: part.map((s) => ({ key: s.siteId, value: JSON.stringify(sampleMessage(s)) })),
            });
            produced += part.length;
          }
        }),
      );
    };
    const count = async (text: string, params: unknown[] = []) =>
      (await database.pool.query<{ n: number }>(text, params)).rows[0]?.n ?? 0;
    const stored = () => count("SELECT count(*)::int AS n FROM session_samples_raw");
    const allStored = (timeoutMs: number) =>
      until(async () => (await stored()) >= produced, { timeoutMs, intervalMs: 20, what: "every sample stored" });
    /** Samples stored per second over burst rounds [from, from + rounds). */
    const burst = async (label: string, from: number): Promise<number> => {
      let samples = 0;
      let ms = 0;
      for (let round = from; round < from + rounds; round++) {
        ctx.log(`kafka-instances: ${label}, round ${round - from + 1}/${rounds}, ${fmtNum(sites * 20)} samples`);
        const part = roundSamples(fleet, round);
        const start = wallMs();
        await produce(part);
        await allStored(300_000);
        ms += wallMs() - start;
        samples += part.length;
      }
      return (samples / ms) * 1000;
    };

    try {
      await freezeClock(database.pool, fleet);
      await insertStream(database.db, INPUT_STREAMS.siteDemand, siteDemand(fleet));
      const kafkaConfig = { kafkaBrokers: found.brokers, kafkaTopics: topics, kafkaGroupId: groupId };
      const service = await startService(ctx, database, kafkaConfig);
      await producer.connect();
      let first = "";
      await until(
        async () => {
          const m = await members(admin, groupId, topics.sessionSamples);
          first = [...m.keys()][0] ?? "";
          return m.size === 1;
        },
        { timeoutMs: 60_000, what: "the first instance in its group" },
      );
      const one = await burst("one instance", 0);

      child = await spawnService({
        DATABASE_URL: database.url,
        KAFKA_BROKERS: found.brokers.join(","),
        KAFKA_GROUP_ID: groupId,
        KAFKA_TOPIC_SESSIONS: topics.sessionSamples,
        KAFKA_TOPIC_DEMAND: topics.siteDemand,
        KAFKA_TOPIC_PRICES: topics.priceSignals,
        KAFKA_TOPIC_DR: topics.drSignals,
        KAFKA_TOPIC_COMMANDS: topics.setpointCommands,
        API_KEYS: `${BENCH_KEY}:admin`,
        RATE_LIMIT_PER_SECOND: "0",
        NODE_ENV: "production",
      });
      const second = child;
      let victimPartitions: number[] = [];
      await until(
        async () => {
          const m = await members(admin, groupId, topics.sessionSamples);
          victimPartitions = [...m.entries()].find(([memberId]) => memberId !== first)?.[1] ?? [];
          return m.size === 2 && victimPartitions.length > 0;
        },
        { timeoutMs: 90_000, what: "two instances sharing the partitions" },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${second.output.join("").slice(-2000)}`);
      });
      const two = await burst("two instances", rounds);

      // Paced 1,000 samples/s (one site every 20 ms); the second instance killed after 3 s.
      ctx.log("kafka-instances: paced 1,000 samples/s, kill -9 of the second instance after 3 s");
      let pacing = true;
      const paced = (async () => {
        for (let round = 2 * rounds; pacing; round++) {
          const samples = roundSamples(fleet, round);
          for (let site = 0; site < sites && pacing; site++) {
            const start = wallMs();
            await produce(samples.slice(site * 20, site * 20 + 20));
            await sleep(Math.max(0, 20 - (wallMs() - start)));
          }
        }
      })();
      await sleep(3000);
      const killedAt = new Date();
      await second.kill();
      await until(
        async () => (await members(admin, groupId, topics.sessionSamples)).get(first)?.length === PARTITIONS,
        {
          timeoutMs: 120_000,
          intervalMs: 100,
          what: "the first instance to own every partition",
        },
      );
      const rebalancedMs = Date.now() - killedAt.getTime();
      const sinceKill = `FROM session_samples_raw WHERE kafka_partition = ANY($1::int[]) AND received_at > $2`;
      await until(
        async () => (await count(`SELECT count(*)::int AS n ${sinceKill}`, [victimPartitions, killedAt])) > 0,
        {
          timeoutMs: 120_000,
          intervalMs: 20,
          what: "the killed instance's partitions stored again",
        },
      );
      const firstRow = await database.pool.query<{ at: Date }>(`SELECT min(received_at) AS at ${sinceKill}`, [
        victimPartitions,
        killedAt,
      ]);
      const takeoverMs = (firstRow.rows[0]?.at.getTime() ?? Number.NaN) - killedAt.getTime();
      await sleep(2000);
      pacing = false;
      await paced;
      await allStored(300_000);
      await sleep(1000);
      const rows = await stored();
      const twice = await count(
        "SELECT count(*)::int AS n FROM (SELECT 1 FROM session_samples_raw GROUP BY kafka_topic, kafka_partition, kafka_offset HAVING count(*) > 1) d",
      );
      await service.stop();
      const out: Row[] = [
        {
          metric: `${rounds} rounds of ${fmtNum(sites)} sites x 20, ${PARTITIONS} partitions: one instance`,
          value: `${fmtNum(one)} samples/s`,
        },
        {
          metric: "  the next rounds with two instances (same database)",
          value: `${fmtNum(two)} samples/s`,
          baseline: `${fmtNum(one)} samples/s`,
          ratio: `${(two / one).toFixed(2)}x`,
        },
        {
          metric: "kill -9 of one instance: its partitions stored again by the other after",
          value: `${fmtMs(takeoverMs)} (group rebalanced after ${fmtMs(rebalancedMs)})`,
        },
        {
          metric: "every sample stored exactly once",
          value:
            rows === produced && twice === 0
              ? `ok (${fmtNum(rows)})`
              : `FAILED: ${rows} rows, ${produced} sent, ${twice} twice`,
        },
      ];
      return {
        rows: out,
        data: { one, two, takeoverMs, rebalancedMs, victimPartitions, produced, rows, twice },
      };
    } finally {
      await child?.kill();
      removeChild();
      await producer.disconnect().catch(() => {});
      await database.drop();
      await admin.deleteTopics({ topics: allTopics }).catch(() => {});
      await admin.disconnect().catch(() => {});
    }
  },
};
