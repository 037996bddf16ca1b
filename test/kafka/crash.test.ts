// kill -9 of the whole service (a child process: node --import tsx src/main.ts) while it ingests a
// steady stream from Kafka and publishes commands, then a restart: no raw row is stored twice,
// none is missing, and every command of the outbox reaches the command topic (duplicates allowed).
import type { ChildProcess } from "node:child_process";
import type { Admin, Kafka, Producer } from "kafkajs";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { KafkaTopics } from "../../src/config.js";
import type { TestDatabase } from "../helpers/db.js";
import { at } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import {
  type ChildService,
  type Collector,
  caughtUp,
  collect,
  connectProducer,
  describeKafka,
  type KafkaTestEnv,
  send,
  sessionSample,
  spawnService,
  startKafkaTestEnv,
  topicEnv,
} from "./kafka-helpers.js";

const SITES = 12;
const MAX_MESSAGES = 8000;

describeKafka("kafka bridge crash", "Kafka crash test", () => {
  let env: KafkaTestEnv;
  let brokers: string[];
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let db: TestDatabase;
  let topics: KafkaTopics;
  let groupId: string;

  const services: ChildService[] = [];
  const startService = async () => {
    const service = await spawnService({
      DATABASE_URL: db.url,
      KAFKA_BROKERS: brokers.join(","),
      KAFKA_GROUP_ID: groupId,
      ...topicEnv(topics),
    });
    services.push(service);
    return service;
  };

  async function leader(service: ChildService): Promise<boolean> {
    const res = await fetch(`http://127.0.0.1:${service.port}/metrics`);
    return /^scc_kafka_command_leader 1$/m.test(await res.text());
  }

  const count = async (sqlText: string): Promise<number> =>
    (await db.pool.query<{ n: number }>(sqlText)).rows[0]?.n ?? 0;

  beforeAll(async () => {
    env = await startKafkaTestEnv("scc-crash");
    ({ brokers, kafka, admin, topics, groupId, db } = env);
    producer = await connectProducer(kafka);
  }, 90_000);

  afterAll(async () => {
    for (const s of services) await s.kill();
    await producer?.disconnect().catch(() => {});
    await env?.close();
  }, 60_000);

  test("SIGKILL while ingesting, then restart: every command on the topic, no raw row twice, none missing", async () => {
    const reader: Collector = await collect(kafka, [topics.setpointCommands]);
    try {
      // Capacity for the first few sessions per site, then everybody's share shrinks: many commands.
      await send(
        producer,
        topics.siteDemand,
        Array.from({ length: SITES }, (_, i) => ({
          key: `crash-site-${i}`,
          value: {
            site_id: `crash-site-${i}`,
            demand_limit_kw: 60,
            current_demand_kw: 10,
            ev_load_kw: 0,
            measured_ts: at(-30),
          },
        })),
      );
      let produced = SITES;
      let sessionNo = 0;
      let producing = true;
      const load = (async () => {
        while (producing && produced < MAX_MESSAGES) {
          const batch = Array.from({ length: 30 }, () => {
            sessionNo += 1;
            const site = `crash-site-${sessionNo % SITES}`;
            const session = `crash-s-${sessionNo}`;
            return sessionSample(site, session, {
              rated_power_kw: 11,
              current_power_kw: 0,
              session_start_ts: at(-1800 + (sessionNo % 1000)),
              sampled_ts: at(-60),
            });
          });
          await send(producer, topics.sessionSamples, batch);
          produced += batch.length;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();

      const first = await startService();
      // Kill it while it is busy: rows and commands flowing, messages still arriving.
      await until(async () => (await count("SELECT count(*)::int AS n FROM session_samples_raw")) >= 300, {
        timeoutMs: 30_000,
        what: "the first service to ingest",
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${first.output.join("")}`);
      });
      await until(() => reader.messages.length > 0, { timeoutMs: 15_000, what: "the first commands on the topic" });
      const pid = first.child.pid as number;
      process.kill(pid, "SIGKILL");
      expect(await first.exited).toBeNull(); // killed by a signal
      const rowsAtKill = await count("SELECT count(*)::int AS n FROM session_samples_raw");

      const second = await startService();
      await until(async () => (await count("SELECT count(*)::int AS n FROM session_samples_raw")) > rowsAtKill + 300, {
        timeoutMs: 40_000,
        what: "the restarted service to ingest",
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${second.output.join("")}`);
      });
      producing = false;
      await load;
      const started = Date.now();
      await until(
        async () =>
          (await count("SELECT count(*)::int AS n FROM session_samples_raw")) +
            (await count("SELECT count(*)::int AS n FROM site_demand_raw")) ===
          produced,
        { timeoutMs: 30_000, what: `all ${produced} messages stored` },
      );
      await until(() => caughtUp(admin, groupId, [topics.sessionSamples, topics.siteDemand]), {
        timeoutMs: 20_000,
        what: "offsets committed",
      });

      // No raw row twice: each (topic, partition, offset) once, and exactly one row per message.
      expect(
        await count(
          "SELECT count(*)::int AS n FROM (SELECT kafka_topic, kafka_partition, kafka_offset FROM session_samples_raw GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
        ),
      ).toBe(0);
      expect(await count("SELECT count(DISTINCT session_id)::int AS n FROM session_samples_raw")).toBe(
        produced - SITES,
      );

      // Every command of the outbox is on the topic (duplicates allowed, none missing).
      const ids = async () =>
        (await db.pool.query<{ command_id: string }>("SELECT command_id FROM setpoint_commands")).rows.map(
          (r) => r.command_id,
        );
      const onTopic = () =>
        new Set(reader.messages.map((m) => (JSON.parse(m.value ?? "{}") as { command_id: string }).command_id));
      await until(
        async () => {
          const seenNow = onTopic();
          return (await ids()).every((id) => seenNow.has(id));
        },
        { timeoutMs: 30_000, what: "every command on the topic" },
      ).catch(async (error: Error) => {
        const missing = (await ids()).filter((id) => !onTopic().has(id));
        throw new Error(`${error.message}: ${missing.length} missing\n${second.output.join("")}`);
      });
      const all = await ids();
      const seen = onTopic();
      expect(all.filter((id) => !seen.has(id))).toEqual([]);
      for (const m of reader.messages) {
        expect(m.key).toBe((JSON.parse(m.value ?? "{}") as { charge_point_id: string }).charge_point_id);
      }
      const duplicates = reader.messages.length - seen.size;
      const metricsText = await (await fetch(`http://127.0.0.1:${second.port}/metrics`)).text();
      const replayed = [
        ...metricsText.matchAll(/^scc_kafka_messages_total\{[^}]*outcome="duplicate"[^}]*\} (\d+)$/gm),
      ].reduce((sum, m) => sum + Number(m[1]), 0);
      expect(await leader(second)).toBe(true);
      console.info(
        `[kafka crash] ${produced} messages, ${rowsAtKill} rows at the kill, ${all.length} commands, ${reader.messages.length} on the topic ` +
          `(${duplicates} redelivered duplicates); ${replayed} input messages redelivered after the kill and recognised as already stored; converged ${Date.now() - started} ms after the load stopped`,
      );

      // A clean stop of the restarted service.
      (second.child as ChildProcess).kill("SIGTERM");
      expect(await second.exited).toBe(0);
    } finally {
      await reader.stop();
    }
  }, 120_000);
});
