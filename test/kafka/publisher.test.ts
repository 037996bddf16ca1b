// The command publisher on its own, against the real broker and this file's own database:
// Kafka going away (simulated for this client only, so the shared broker keeps running) leaves the
// commands in the outbox, the position unmoved, until Kafka is back or another publisher starts;
// leadership moves when the leader's lock session dies; no replication slot is involved.
import net from "node:net";
import { type ISocketFactory, Kafka, logLevel } from "kafkajs";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { CommandPublisher, LEADER_LOCK_KEY, positionKey } from "../../src/kafka/command-publisher.js";
import { createKafkaMetrics } from "../../src/kafka/support.js";
import { createMetrics } from "../../src/ops/metrics.js";
import type { TestDatabase } from "../helpers/db.js";
import { at, demand, samples } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import {
  type Collector,
  collect,
  describeKafka,
  type KafkaTestEnv,
  startKafkaTestEnv,
  testKafka,
} from "./kafka-helpers.js";

/** A kafkajs client whose connections can be cut and refused, as if the broker were down. */
function switchableKafka(brokers: string[]) {
  const sockets = new Set<net.Socket>();
  let down = false;
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    if (down) {
      const socket = new net.Socket();
      setImmediate(() => socket.destroy(new Error("connect ECONNREFUSED (kafka down in this test)")));
      return socket;
    }
    const socket = net.connect({ host, port }, onConnect);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return socket;
  };
  return {
    kafka: new Kafka({ clientId: "scc-test-switchable", brokers, logLevel: logLevel.NOTHING, socketFactory }),
    setDown(value: boolean) {
      down = value;
      if (value) for (const s of sockets) s.destroy(new Error("connection reset (kafka down in this test)"));
    },
  };
}

describeKafka("kafka command publisher", "Kafka publisher tests", () => {
  let env: KafkaTestEnv;
  let brokers: string[];
  let db: TestDatabase;
  let topic: string;
  let reader: Collector;
  const publishers: CommandPublisher[] = [];
  let n = 0;

  function publisher(kafka: Kafka): CommandPublisher {
    const p = new CommandPublisher({
      kafka,
      topic,
      connectionString: db.url,
      pool: db.pool,
      logger: pino({ level: "silent" }),
      metrics: createKafkaMetrics(new Registry(), {
        consumerUp: () => true,
        producerOk: () => true,
        leader: () => false,
      }),
      appMetrics: createMetrics(),
      retryIntervalMs: 300,
      checkIntervalMs: 300,
    });
    publishers.push(p);
    return p;
  }

  /** One transaction with one new command (a new session at a new site); returns its command_id. */
  async function newCommand(): Promise<string> {
    n += 1;
    const site = `pub-site-${n}`;
    await demand(db.pool, site, { limit: 100, current: 10, ev: 0, ts: at(-30) });
    await samples(db.pool, [{ session: `pub-s-${n}`, site, rated: 11, current: 2, start: at(-60), ts: at(-20) }]);
    const { rows } = await db.pool.query<{ command_id: string }>(
      "SELECT command_id FROM setpoint_commands WHERE session_id = $1",
      [`pub-s-${n}`],
    );
    expect(rows).toHaveLength(1);
    return rows[0]?.command_id as string;
  }

  async function savedPosition(): Promise<bigint> {
    const { rows } = await db.pool.query<{ cursor: string }>("SELECT cursor FROM feed_positions WHERE consumer = $1", [
      positionKey(topic),
    ]);
    return BigInt(rows[0]?.cursor ?? -1);
  }

  async function cursorsOf(commandIds: string[]): Promise<bigint[]> {
    const { rows } = await db.pool.query<{ cursor: string }>(
      "SELECT cursor FROM setpoint_commands WHERE command_id = ANY($1::uuid[])",
      [commandIds],
    );
    return rows.map((r) => BigInt(r.cursor));
  }

  const onTopic = () =>
    new Set(reader.messages.map((m) => (JSON.parse(m.value ?? "{}") as { command_id: string }).command_id));

  beforeAll(async () => {
    env = await startKafkaTestEnv("scc-publisher", ["setpointCommands"]);
    ({ brokers, db } = env);
    topic = env.topics.setpointCommands;
    reader = await collect(env.kafka, [topic]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.stop().catch(() => {})));
    await reader?.stop().catch(() => {});
    await env?.close();
  }, 60_000);

  test("Kafka down: the commands wait in the outbox (unhealthy meanwhile) and all arrive when Kafka is back", async () => {
    const switchable = switchableKafka(brokers);
    const p = publisher(switchable.kafka);
    await p.start();
    await until(() => p.leader, { timeoutMs: 10_000, what: "leadership" });
    const first = await newCommand();
    await until(() => onTopic().has(first), { timeoutMs: 20_000, what: "the first command on the topic" });
    expect(p.ok).toBe(true);

    switchable.setDown(true);
    const pending = [await newCommand(), await newCommand(), await newCommand()];
    await until(() => !p.ok, { timeoutMs: 20_000, what: "the publisher to report failing" });
    expect(pending.filter((id) => onTopic().has(id))).toEqual([]);
    // The saved position is still before the held commands.
    const saved = await savedPosition();
    const held = await cursorsOf(pending);
    expect(held.every((c) => c > saved)).toBe(true);

    switchable.setDown(false);
    await until(() => pending.every((id) => onTopic().has(id)), {
      timeoutMs: 30_000,
      what: "the held commands on the topic after Kafka is back",
    });
    await until(() => p.ok, { timeoutMs: 10_000, what: "healthy again" });
    await p.stop();
  }, 60_000);

  test("the position keeps the commands across a restart while Kafka is down", async () => {
    const switchable = switchableKafka(brokers);
    switchable.setDown(true);
    const down = publisher(switchable.kafka);
    await down.start();
    await until(() => down.leader, { timeoutMs: 10_000, what: "leadership" });
    const pending = [await newCommand(), await newCommand()];
    await until(() => !down.ok, { timeoutMs: 20_000, what: "the publisher to report failing" });
    await down.stop();
    expect(pending.filter((id) => onTopic().has(id))).toEqual([]);

    const healthy = publisher(testKafka(brokers));
    await healthy.start();
    await until(() => pending.every((id) => onTopic().has(id)), {
      timeoutMs: 30_000,
      what: "the held commands published by the next leader",
    });
    await healthy.stop();
  }, 60_000);

  test("leadership: one of two instances publishes; when the leader's lock session dies it stops, and publishing resumes", async () => {
    const a = publisher(testKafka(brokers));
    const b = publisher(testKafka(brokers));
    await Promise.all([a.start(), b.start()]);
    await until(() => [a, b].filter((p) => p.leader).length === 1, { timeoutMs: 10_000, what: "exactly one leader" });
    // It stays that way.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
      expect([a, b].filter((p) => p.leader)).toHaveLength(1);
    }
    const before = await newCommand();
    await until(() => onTopic().has(before), { timeoutMs: 20_000, what: "a command on the topic" });

    // The leader's lock session dies (as when its process or network goes away).
    const { rows } = await db.pool.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(l.pid) AS terminated FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.database =
             (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [LEADER_LOCK_KEY],
    );
    expect(rows.map((r) => r.terminated)).toEqual([true]);
    await until(() => [a, b].filter((p) => p.leader).length === 1, { timeoutMs: 15_000, what: "one leader again" });
    const after = await newCommand();
    await until(() => onTopic().has(after), {
      timeoutMs: 20_000,
      what: "a command on the topic after the hand-over",
    });

    // The other instance takes over when the leader stops.
    const current = a.leader ? a : b;
    const other = current === a ? b : a;
    await current.stop();
    await until(() => other.leader, { timeoutMs: 10_000, what: "the other instance to lead" });
    const last = await newCommand();
    await until(() => onTopic().has(last), { timeoutMs: 20_000, what: "a command on the topic from the new leader" });
  }, 60_000);

  test("Kafka off, then on: what was committed while no publisher ran arrives once each, with its cursor; the position moves", async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    // Whatever earlier tests left unpublished is published first: wait until the outbox is drained.
    const first = publisher(testKafka(brokers));
    await first.start();
    await until(() => first.leader, { timeoutMs: 10_000, what: "leadership" });
    const warm = await newCommand();
    await until(() => onTopic().has(warm), { timeoutMs: 20_000, what: "the outbox drained" });
    await first.stop();

    // The service runs without Kafka: nothing publishes.
    const offline = [await newCommand(), await newCommand(), await newCommand(), await newCommand()];
    const cursors = (await cursorsOf(offline)).sort((a, b) => (a < b ? -1 : 1));
    const [lowest = 0n, highest = 0n] = [cursors[0], cursors.at(-1)];
    expect((await savedPosition()) < lowest).toBe(true);

    const back = publisher(testKafka(brokers));
    await back.start();
    await until(() => offline.every((id) => onTopic().has(id)), { timeoutMs: 30_000, what: "the offline commands" });
    const messages = reader.messages
      .map((m) => JSON.parse(m.value ?? "{}") as { command_id: string; cursor: string })
      .filter((m) => offline.includes(m.command_id));
    expect(messages).toHaveLength(offline.length); // once each
    expect(messages.map((m) => BigInt(m.cursor)).sort((a, b) => (a < b ? -1 : 1))).toEqual(cursors);
    await until(async () => (await savedPosition()) >= highest, {
      timeoutMs: 10_000,
      what: "the saved position past the offline commands",
    });
    await back.stop();
  }, 60_000);
});
