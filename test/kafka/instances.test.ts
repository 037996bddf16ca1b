// Two service instances on one database and one consumer group: the group spreads the input
// partitions over both, each has its own live change stream (its own temporary slot), and when one
// is killed (SIGKILL, a child process) under load the other takes its partitions over: every
// sample is stored exactly once, nothing lost, nothing twice.
import { type Admin, AssignerProtocol, type Producer } from "kafkajs";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.js";
import { at } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import {
  type ChildService,
  caughtUp,
  connectProducer,
  describeKafka,
  type KafkaTestEnv,
  send,
  spawnService,
  startKafkaTestEnv,
  topicEnv,
} from "./kafka-helpers.js";

const SITES = 12;

/** The group's members and the partitions of `topic` each holds (empty while it rebalances). */
async function assignments(admin: Admin, groupId: string, topic: string): Promise<Map<string, number[]>> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  const out = new Map<string, number[]>();
  if (group?.state !== "Stable") return out;
  for (const member of group.members) {
    const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    out.set(member.memberId, [...(decoded?.assignment[topic] ?? [])].sort());
  }
  return out;
}

describeKafka("kafka bridge, two instances", "Kafka two-instance test", () => {
  let env: KafkaTestEnv;
  let producer: Producer;
  let survivor: TestApp | null = null;
  let victim: ChildService | null = null;

  const count = async (sqlText: string, params: unknown[] = []): Promise<number> =>
    (await env.db.pool.query<{ n: number }>(sqlText, params)).rows[0]?.n ?? 0;
  const stored = () => count("SELECT count(*)::int AS n FROM session_samples_raw");

  beforeAll(async () => {
    env = await startKafkaTestEnv("scc-two", ["sessionSamples", "siteDemand", "setpointCommands"]);
    producer = await connectProducer(env.kafka);
  }, 90_000);

  afterAll(async () => {
    await victim?.kill();
    await survivor?.stop();
    await producer?.disconnect().catch(() => {});
    await env?.close();
  }, 60_000);

  test("the group spreads the partitions over both; one killed under load, the other takes over: every sample stored exactly once", async () => {
    const { admin, topics, groupId, brokers } = env;
    survivor = await startTestApp({ kafkaBrokers: brokers, kafkaTopics: topics, kafkaGroupId: groupId }, env.db);
    let survivorId = "";
    await until(
      async () => {
        const members = await assignments(admin, groupId, topics.sessionSamples);
        survivorId = [...members.keys()][0] ?? "";
        return members.size === 1;
      },
      { timeoutMs: 30_000, what: "the first instance in its group" },
    );

    await send(
      producer,
      topics.siteDemand,
      Array.from({ length: SITES }, (_, i) => ({
        key: `two-site-${i}`,
        value: {
          site_id: `two-site-${i}`,
          demand_limit_kw: 60,
          current_demand_kw: 10,
          ev_load_kw: 0,
          measured_ts: at(-30),
        },
      })),
    );
    // Samples keyed by site (a site's samples stay in one partition, in order), one session each.
    let produced = 0;
    let producing = true;
    const load = (async () => {
      while (producing) {
        const batch = Array.from({ length: 40 }, () => {
          produced += 1;
          const site = `two-site-${produced % SITES}`;
          return {
            key: site,
            value: {
              session_id: `two-s-${produced}`,
              charge_point_id: `two-cp-${produced}`,
              connector_id: 1,
              site_id: site,
              rated_power_kw: 11,
              current_power_kw: 0,
              session_start_ts: at(-1800 + (produced % 1000)),
              sampled_ts: at(-60),
            },
          };
        });
        await send(producer, topics.sessionSamples, batch);
        await new Promise((r) => setTimeout(r, 30));
      }
    })();

    try {
      victim = await spawnService({
        DATABASE_URL: env.db.url,
        KAFKA_BROKERS: brokers.join(","),
        KAFKA_GROUP_ID: groupId,
        ...topicEnv(topics),
      });
      const child = victim;
      // Both in the group, the partitions spread over them.
      let victimPartitions: number[] = [];
      await until(
        async () => {
          const members = await assignments(admin, groupId, topics.sessionSamples);
          const other = [...members.entries()].find(([id]) => id !== survivorId);
          victimPartitions = other?.[1] ?? [];
          return members.size === 2 && victimPartitions.length > 0 && (members.get(survivorId)?.length ?? 0) > 0;
        },
        { timeoutMs: 60_000, what: "both instances sharing the partitions" },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${child.output.join("")}`);
      });
      // The second instance stores its partitions' messages itself. (received_at is the service
      // clock, frozen here, so rows are told apart by id.)
      const maxId = async () =>
        BigInt((await env.db.pool.query("SELECT coalesce(max(id), 0)::text AS m FROM session_samples_raw")).rows[0].m);
      const idAtJoin = await maxId();
      const fromVictim = (afterId: bigint) =>
        count("SELECT count(*)::int AS n FROM session_samples_raw WHERE kafka_partition = ANY($1::int[]) AND id > $2", [
          victimPartitions,
          afterId.toString(),
        ]);
      // A rebalance can wait for the group's session timeout (30 s) before the newcomer gets partitions.
      await until(async () => (await fromVictim(idAtJoin)) >= 200, {
        timeoutMs: 90_000,
        what: "the second instance to store its partitions' samples",
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${child.output.join("")}`);
      });
      // Each instance has its own live change stream: two temporary slots on this database.
      expect(
        await count(
          "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name LIKE 'scc_live_%' AND database = current_database()",
        ),
      ).toBe(2);

      // Hard stop under load.
      const killedAt = new Date();
      const idAtKill = await maxId();
      expect(await child.kill()).toBeNull();
      // The survivor gets every partition once the group has noticed (session timeout) and stores
      // the killed instance's uncommitted messages again: the unique (topic, partition, offset) keeps them once.
      await until(
        async () => (await assignments(admin, groupId, topics.sessionSamples)).get(survivorId)?.length === 3,
        { timeoutMs: 60_000, what: "the survivor to own every partition" },
      );
      const rebalanced = Date.now() - killedAt.getTime();
      // Taken over: the first of the killed instance's partitions' rows stored after the kill (polled).
      const takenOver = await until(async () => (await fromVictim(idAtKill)) > 0, {
        timeoutMs: 60_000,
        intervalMs: 50,
        what: "the killed instance's partitions stored by the survivor",
      }).then(() => Date.now() - killedAt.getTime());
      await new Promise((r) => setTimeout(r, 1000)); // a little more load on the survivor alone
      producing = false;
      await load;

      await until(async () => (await stored()) === produced, {
        timeoutMs: 60_000,
        what: `all ${produced} samples stored`,
      });
      await until(() => caughtUp(admin, groupId, [topics.sessionSamples, topics.siteDemand]), {
        timeoutMs: 30_000,
        what: "offsets committed",
      });
      // Exactly once: one row per message, no (topic, partition, offset) twice, every session there.
      expect(await stored()).toBe(produced);
      expect(
        await count(
          "SELECT count(*)::int AS n FROM (SELECT 1 FROM session_samples_raw GROUP BY kafka_topic, kafka_partition, kafka_offset HAVING count(*) > 1) d",
        ),
      ).toBe(0);
      expect(await count("SELECT count(DISTINCT session_id)::int AS n FROM session_samples_raw")).toBe(produced);
      expect(await count("SELECT count(*)::int AS n FROM site_demand_raw")).toBe(SITES);
      console.info(
        `[kafka two instances] ${produced} samples, partitions ${victimPartitions.join(",")} of the killed instance stored again by the survivor ${takenOver} ms after the kill (the group gave it every partition after ${rebalanced} ms)`,
      );
    } finally {
      producing = false;
      await load;
    }
  }, 300_000);
});
