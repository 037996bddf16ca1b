// The Kafka bridge against a real broker (scripts/kafka-up.sh) and this file's own database:
// the four topics in, setpoint commands out, dead letters, a failing database, replay, and a
// second instance taking over the command publishing.
import type { Admin, Kafka, Producer } from "kafkajs";
import type { Selectable } from "kysely";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { KafkaTopics } from "../../src/config.js";
import type { SetpointCommandsTable } from "../../src/db/types.js";
import { startTestApp, type TestApp } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/db.js";
import { at } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import {
  type Collector,
  caughtUp,
  collect,
  committedOffsets,
  connectProducer,
  describeKafka,
  type KafkaTestEnv,
  type Received,
  send,
  sessionSample,
  startKafkaTestEnv,
  uniq,
} from "./kafka-helpers.js";

type CommandRow = Selectable<SetpointCommandsTable>;

describeKafka("kafka bridge", "Kafka bridge tests", () => {
  let env: KafkaTestEnv;
  let brokers: string[];
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let db: TestDatabase;
  let topics: KafkaTopics;
  let inputTopics: string[];
  let groupId: string;
  let app: TestApp;
  let second: TestApp | null = null;
  let reader: Collector;
  let dlqReader: Collector;

  const rawCount = async (table: string): Promise<number> =>
    (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n ?? 0;

  const commandRows = async (): Promise<CommandRow[]> =>
    (await db.pool.query<CommandRow>("SELECT * FROM setpoint_commands ORDER BY seq")).rows;

  const published = (): Map<string, Received> => {
    const byId = new Map<string, Received>();
    for (const m of reader.messages) {
      const id = m.value ? (JSON.parse(m.value) as { command_id: string }).command_id : "";
      byId.set(id, m);
    }
    return byId;
  };

  const metric = async (a: TestApp, name: string, labels: Record<string, string>): Promise<number> => {
    const json = await a.app.metrics.registry.getSingleMetric(name)?.get();
    const value = json?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
    return value?.value ?? 0;
  };

  const readyz = async (a: TestApp): Promise<{ ready: boolean; checks: Record<string, boolean> }> =>
    (await fetch(a.url.replace(/\/graphql$/, "/readyz"))).json() as Promise<{
      ready: boolean;
      checks: Record<string, boolean>;
    }>;

  beforeAll(async () => {
    env = await startKafkaTestEnv("scc-bridge");
    ({ brokers, kafka, admin, topics, groupId, db } = env);
    inputTopics = [topics.sessionSamples, topics.siteDemand, topics.priceSignals, topics.drSignals];
    app = await startTestApp({ kafkaBrokers: brokers, kafkaTopics: topics, kafkaGroupId: groupId }, db);
    producer = await connectProducer(kafka);
    reader = await collect(kafka, [topics.setpointCommands]);
    dlqReader = await collect(
      kafka,
      inputTopics.map((t) => `${t}.dlq`),
    );
  }, 90_000);

  afterAll(async () => {
    await reader?.stop().catch(() => {});
    await dlqReader?.stop().catch(() => {});
    await producer?.disconnect().catch(() => {});
    await second?.stop().catch(() => {});
    await app?.stop().catch(() => {});
    await env?.close();
  }, 60_000);

  test("joins its group, takes the command leadership and reports ready", async () => {
    await until(async () => (await readyz(app)).checks.kafka === true, { timeoutMs: 20_000, what: "readyz kafka" });
    expect(await metric(app, "scc_kafka_command_leader", {})).toBe(1);
  });

  test("the four topics round trip: state, setpoints and alerts in the database, commands on the command topic", async () => {
    const site = "rt-1";
    await send(producer, topics.siteDemand, [
      {
        key: site,
        value: { site_id: site, demand_limit_kw: 100, current_demand_kw: 30, ev_load_kw: 0, measured_ts: at(-50) },
      },
    ]);
    const sample = (session: string, ts: string, extra: Record<string, unknown> = {}) =>
      sessionSample(site, session, {
        id_tag: "tag-1",
        rated_power_kw: 22,
        current_power_kw: 5,
        soc_pct: 40,
        energy_kwh: 1.5,
        session_start_ts: at(-600),
        sampled_ts: ts,
        ...extra,
      });
    await until(async () => (await rawCount("site_demand_raw")) === 1, {
      timeoutMs: 20_000,
      what: "the demand sample",
    });
    await send(producer, topics.sessionSamples, [sample("rt-a", at(-40)), sample("rt-b", at(-40))]);

    const setpoints = async () =>
      (
        await db.pool.query<{ session_id: string; setpoint_kw: number; limited_by: string }>(
          "SELECT session_id, setpoint_kw, limited_by FROM setpoints WHERE site_id = $1 ORDER BY session_id",
          [site],
        )
      ).rows;
    await until(async () => (await setpoints()).filter((s) => s.setpoint_kw === 22).length === 2, {
      timeoutMs: 20_000,
      what: "rated setpoints",
    });
    expect((await setpoints()).map((s) => s.limited_by)).toEqual(["RATED_POWER", "RATED_POWER"]);

    // Price: ON_PEAK halves the target (C = 70, T = 35 -> 17.5 each).
    await send(producer, topics.priceSignals, [
      {
        key: site,
        value: {
          tariff_id: "tou",
          site_id: site,
          price_usd_kwh: 0.42,
          price_tier: "ON_PEAK",
          valid_from: at(-3600),
          valid_to: at(3600),
        },
      },
    ]);
    await until(async () => (await setpoints()).every((s) => s.setpoint_kw === 17.5), {
      timeoutMs: 20_000,
      what: "price-tier setpoints",
    });
    // DR: 75 % curtailment (C = 17.5, T = min(C, C0 x 0.5) = min(17.5, 35) = 17.5 -> 8.75 each;
    // price and DR do not stack, so a 50 % curtailment would leave T at 35).
    await send(producer, topics.drSignals, [
      {
        key: site,
        value: {
          dr_event_id: "dr-1",
          site_id: site,
          curtailment_pct: 75,
          baseline_kw: 0,
          event_start_ts: at(-60),
          event_end_ts: at(3600),
          signal_ts: at(-30),
        },
      },
    ]);
    await until(async () => (await setpoints()).every((s) => s.setpoint_kw === 8.75), {
      timeoutMs: 20_000,
      what: "curtailed setpoints",
    });
    const { rows: siteRows } = await db.pool.query(
      "SELECT price_tier, curtailment_pct, ev_cap_kw FROM sites WHERE site_id = $1",
      [site],
    );
    expect(siteRows[0]).toMatchObject({ price_tier: "ON_PEAK", curtailment_pct: 75, ev_cap_kw: 17.5 });

    // Over demand: an alert; then the first session ends by a sample with ended: true.
    await send(producer, topics.siteDemand, [
      {
        key: site,
        value: { site_id: site, demand_limit_kw: 100, current_demand_kw: 120, ev_load_kw: 50, measured_ts: at(-10) },
      },
    ]);
    await until(
      async () =>
        (
          await db.pool.query(
            "SELECT 1 FROM alerts WHERE site_id = $1 AND type = 'SITE_OVER_DEMAND' AND status = 'ACTIVE'",
            [site],
          )
        ).rowCount === 1,
      { timeoutMs: 20_000, what: "SITE_OVER_DEMAND alert" },
    );
    await send(producer, topics.sessionSamples, [sample("rt-a", at(-5), { ended: true })]);
    await until(
      async () =>
        (await db.pool.query("SELECT ended_at FROM sessions WHERE session_id = 'rt-a' AND end_reason = 'ENDED'"))
          .rowCount === 1,
      { timeoutMs: 20_000, what: "session rt-a ended" },
    );

    // Every raw row came from Kafka and knows its position.
    const { rows: origins } = await db.pool.query(
      `SELECT source, kafka_topic, kafka_partition, kafka_offset FROM session_samples_raw
       UNION ALL SELECT source, kafka_topic, kafka_partition, kafka_offset FROM site_demand_raw
       UNION ALL SELECT source, kafka_topic, kafka_partition, kafka_offset FROM price_signals_raw
       UNION ALL SELECT source, kafka_topic, kafka_partition, kafka_offset FROM dr_signals_raw`,
    );
    expect(origins).toHaveLength(7);
    for (const o of origins) {
      expect(o.source).toBe("kafka");
      expect(inputTopics).toContain(o.kafka_topic);
      expect(o.kafka_offset).not.toBeNull();
    }

    // Every command of the outbox is on the command topic: key = charge_point_id, the row as JSON.
    const commands = await commandRows();
    expect(commands.length).toBeGreaterThanOrEqual(6);
    // rt-a's end sent its final command: 0 kW, SESSION_ENDED.
    expect(commands.filter((c) => c.session_id === "rt-a" && c.limited_by === "SESSION_ENDED")).toMatchObject([
      { setpoint_kw: 0 },
    ]);
    await until(
      () => {
        const onTopicNow = published();
        return commands.every((c) => onTopicNow.has(c.command_id));
      },
      { timeoutMs: 20_000, what: "all commands on the topic" },
    );
    const onTopic = published();
    for (const c of commands) {
      const m = onTopic.get(c.command_id) as Received;
      expect(m.key).toBe(c.charge_point_id);
      expect(m.headers["x-command-id"]).toBe(c.command_id);
      expect(JSON.parse(m.value ?? "")).toMatchObject({
        command_id: c.command_id,
        session_id: c.session_id,
        site_id: c.site_id,
        charge_point_id: c.charge_point_id,
        connector_id: c.connector_id,
        setpoint_kw: c.setpoint_kw,
        previous_kw: c.previous_kw,
        limited_by: c.limited_by,
        price_tier: c.price_tier,
        command_ts: c.command_ts.toISOString(),
      });
    }
    // The sequence a charger saw: 22, then 17.5 (price), then 8.75 (DR).
    const seen = reader.messages
      .map((m) => JSON.parse(m.value ?? "{}") as { session_id: string; setpoint_kw: number })
      .filter((m) => m.session_id === "rt-b")
      .map((m) => m.setpoint_kw);
    expect(seen.slice(0, 3)).toEqual([22, 17.5, 8.75]);
    expect(await metric(app, "scc_kafka_messages_total", { topic: topics.sessionSamples, outcome: "stored" })).toBe(3);
  });

  test("malformed messages go to <topic>.dlq with the reason and to dead_letters; later messages of the partition still count", async () => {
    const site = "dlq-1";
    const demand = { site_id: site, demand_limit_kw: 50, current_demand_kw: 10, ev_load_kw: 0, measured_ts: at(-20) };
    const before = await rawCount("site_demand_raw");
    // All with the same key: one partition, bad messages first, a good one last.
    await send(producer, topics.siteDemand, [
      { key: site, value: "{not json" },
      { key: site, value: { ...demand, site_id: 42, demand_limit_kw: "fifty" } },
      { key: site, value: { ...demand, demand_limit_kw: -5 } },
      { key: site, value: "[1,2,3]" },
      { key: site, value: { ...demand, measured_ts: at(-15) } },
    ]);
    await send(producer, topics.drSignals, [
      {
        key: site,
        value: {
          dr_event_id: "dr-bad",
          site_id: site,
          curtailment_pct: 150,
          event_start_ts: at(0),
          event_end_ts: at(60),
          signal_ts: at(0),
        },
      },
    ]);
    // Valid JSON, but text with a NUL character (which PostgreSQL cannot store): that message alone
    // is parked, its neighbours in the batch are stored.
    const nulSample = (session: string, idTag: string) => ({
      key: "cp-nul",
      value: {
        session_id: session,
        charge_point_id: "cp-nul",
        connector_id: 1,
        site_id: site,
        id_tag: idTag,
        rated_power_kw: 7,
        session_start_ts: at(-100),
        sampled_ts: at(-50),
      },
    });
    await send(producer, topics.sessionSamples, [
      nulSample("nul-1", "ok"),
      nulSample("nul-2", "bad\u0000tag"),
      nulSample("nul-3", "ok"),
    ]);
    await until(async () => (await rawCount("site_demand_raw")) === before + 1, {
      timeoutMs: 20_000,
      what: "the good demand sample after the bad ones",
    });
    await until(async () => (await rawCount("dead_letters")) === 6, { timeoutMs: 20_000, what: "6 dead letters" });
    const { rows: nul } = await db.pool.query(
      "SELECT session_id FROM session_samples_raw WHERE session_id LIKE 'nul-%' ORDER BY 1",
    );
    expect(nul.map((r) => r.session_id)).toEqual(["nul-1", "nul-3"]);

    const { rows: dead } = await db.pool.query<{
      topic: string;
      partition: number;
      kafka_offset: string;
      key: string;
      payload: string;
      reason: string;
      dlq_published_at: Date | null;
    }>(
      `SELECT topic, partition, kafka_offset::text, convert_from(key, 'UTF8') AS key, convert_from(payload, 'UTF8') AS payload,
              reason, dlq_published_at
       FROM dead_letters ORDER BY topic, kafka_offset`,
    );
    const demandDead = dead.filter((d) => d.topic === topics.siteDemand);
    expect(demandDead.map((d) => d.reason)).toEqual([
      expect.stringMatching(/^not JSON/),
      expect.stringMatching(/site_id: must be a string.*demand_limit_kw: must be a finite number/),
      expect.stringMatching(/demand_limit_kw: must be between 0 and/),
      "must be a JSON object, got an array",
    ]);
    expect(demandDead[0]?.payload).toBe("{not json");
    expect(new Set(demandDead.map((d) => d.partition)).size).toBe(1);
    const nulDead = dead.find((d) => d.topic === topics.sessionSamples);
    expect(nulDead?.reason).toMatch(/id_tag: .*control characters/);
    expect(JSON.parse(nulDead?.payload ?? "{}").session_id).toBe("nul-2");
    const drDead = dead.find((d) => d.topic === topics.drSignals);
    expect(drDead?.reason).toMatch(/curtailment_pct: must be between 0 and 100/);
    expect(dead.filter((d) => d.topic !== topics.sessionSamples).every((d) => d.key === site)).toBe(true);

    // The good message came after the bad ones in the same partition.
    const { rows: good } = await db.pool.query(
      "SELECT kafka_partition, kafka_offset::text AS kafka_offset FROM site_demand_raw WHERE site_id = $1",
      [site],
    );
    expect(good).toHaveLength(1);
    expect(good[0].kafka_partition).toBe(demandDead[0]?.partition);
    expect(BigInt(good[0].kafka_offset)).toBeGreaterThan(BigInt(demandDead[3]?.kafka_offset ?? "0"));

    // The DLQ topics: original key and value, the reason and the origin in headers.
    await until(() => dlqReader.messages.length === 6, { timeoutMs: 20_000, what: "6 messages on the DLQ topics" });
    for (const d of dead) {
      const m = dlqReader.messages.find(
        (x) => x.headers["x-dlq-original-topic"] === d.topic && x.headers["x-dlq-original-offset"] === d.kafka_offset,
      );
      expect(m, `DLQ message for ${d.topic}@${d.kafka_offset}`).toBeDefined();
      expect(m?.topic).toBe(`${d.topic}.dlq`);
      expect(m?.key).toBe(d.key);
      expect(m?.value).toBe(d.payload);
      expect(m?.headers["x-dlq-reason"]).toBe(d.reason);
      expect(m?.headers["x-dlq-original-partition"]).toBe(String(d.partition));
    }
    await until(
      async () => (await db.pool.query("SELECT 1 FROM dead_letters WHERE dlq_published_at IS NULL")).rowCount === 0,
      { timeoutMs: 20_000 },
    );

    // Offsets moved past them, and /metrics counts them.
    await until(() => caughtUp(admin, groupId, [topics.siteDemand, topics.drSignals]), {
      timeoutMs: 20_000,
      what: "offsets committed",
    });
    expect(await metric(app, "scc_kafka_messages_total", { topic: topics.siteDemand, outcome: "dead_letter" })).toBe(4);
    expect(await metric(app, "scc_kafka_messages_total", { topic: topics.drSignals, outcome: "dead_letter" })).toBe(1);
    const text = await (await fetch(app.url.replace(/\/graphql$/, "/metrics"))).text();
    expect(text).toContain(`scc_kafka_messages_total{topic="${topics.siteDemand}",outcome="dead_letter"} 4`);
    expect((await readyz(app)).checks.kafka).toBe(true);
  });

  test("a sample naming another site's session id is dead-lettered, not a takeover (security)", async () => {
    const sample = (session: string, site: string, sampledAgo: number) =>
      sessionSample(site, session, { rated_power_kw: 7, session_start_ts: at(-100), sampled_ts: at(-sampledAgo) });
    const deadBefore = await rawCount("dead_letters");
    await send(producer, topics.sessionSamples, [sample("owned-1", "site-owner", 40)]);
    await until(
      async () => (await db.pool.query("SELECT 1 FROM sessions WHERE session_id = 'owned-1'")).rowCount === 1,
      { timeoutMs: 20_000, what: "the owner's session" },
    );
    await send(producer, topics.sessionSamples, [
      sample("owned-1", "site-thief", 30),
      sample("thief-own-1", "site-thief", 30),
    ]);
    await until(async () => (await rawCount("dead_letters")) === deadBefore + 1, {
      timeoutMs: 20_000,
      what: "the takeover sample dead-lettered",
    });
    // The other sample has another key, so another partition: it may land a moment later.
    await until(
      async () =>
        (await db.pool.query("SELECT 1 FROM session_samples_raw WHERE session_id = 'thief-own-1'")).rowCount === 1,
      { timeoutMs: 20_000, what: "the thief's own session stored" },
    );
    const { rows } = await db.pool.query("SELECT site_id FROM sessions WHERE session_id = 'owned-1'");
    expect(rows[0]?.site_id).toBe("site-owner");
    const { rows: raw } = await db.pool.query(
      "SELECT session_id, site_id FROM session_samples_raw WHERE site_id = 'site-thief' ORDER BY 1",
    );
    expect(raw).toEqual([{ session_id: "thief-own-1", site_id: "site-thief" }]);
    const { rows: dead } = await db.pool.query("SELECT reason FROM dead_letters ORDER BY id DESC LIMIT 1");
    expect(dead[0]?.reason).toMatch(/^site_id: session owned-1 belongs to another site/);
  });

  test("the energy and priority fields (SPEC §9) round trip in snake_case; a bad one is dead-lettered by its snake_case name", async () => {
    const site = "needs-1";
    const needs = {
      departure_ts: "2026-06-01T18:00:00+02:00",
      requested_energy_kwh: 55,
      ev_max_kw: 11,
      ev_min_kw: 1.4,
      bid_usd_kwh: 0.42,
      priority: -12,
    };
    const sample = (session: string, extra: Record<string, unknown>) =>
      sessionSample(site, session, { rated_power_kw: 11, session_start_ts: at(-100), sampled_ts: at(-50), ...extra });
    const deadBefore = await rawCount("dead_letters");
    await send(producer, topics.sessionSamples, [
      sample("needs-bad", { ev_min_kw: 12, ev_max_kw: 11 }),
      sample("needs-a", needs),
      sample("needs-b", {}),
    ]);
    const columns = "departure_ts, requested_energy_kwh, ev_max_kw, ev_min_kw, bid_usd_kwh, priority";
    await until(
      async () =>
        (await db.pool.query("SELECT 1 FROM sessions WHERE session_id IN ('needs-a', 'needs-b')")).rowCount === 2,
      { timeoutMs: 20_000, what: "the two good samples" },
    );
    const expected = { ...needs, departure_ts: new Date("2026-06-01T16:00:00Z") };
    const absent = {
      departure_ts: null,
      requested_energy_kwh: null,
      ev_max_kw: null,
      ev_min_kw: null,
      bid_usd_kwh: null,
      priority: null,
    };
    for (const table of ["session_samples_raw", "sessions"]) {
      const { rows } = await db.pool.query(
        `SELECT session_id, ${columns} FROM ${table} WHERE session_id IN ('needs-a', 'needs-b') ORDER BY 1`,
      );
      expect(rows).toEqual([
        { session_id: "needs-a", ...expected },
        { session_id: "needs-b", ...absent },
      ]);
    }
    await until(async () => (await rawCount("dead_letters")) === deadBefore + 1, {
      timeoutMs: 20_000,
      what: "the bad sample dead-lettered",
    });
    const { rows: dead } = await db.pool.query("SELECT reason FROM dead_letters ORDER BY id DESC LIMIT 1");
    expect(dead[0]?.reason).toBe("ev_min_kw: must not be above ev_max_kw");
    expect((await db.pool.query("SELECT 1 FROM session_samples_raw WHERE session_id = 'needs-bad'")).rowCount).toBe(0);
  });

  test("a failing database transaction leaves the offset uncommitted and the batch is retried, not dead-lettered", async () => {
    await until(() => caughtUp(admin, groupId, inputTopics), { timeoutMs: 20_000, what: "caught up before" });
    const committedBefore = await committedOffsets(admin, groupId, topics.drSignals);
    const retriesBefore = await metric(app, "scc_kafka_ingest_retries_total", {
      topic: topics.drSignals,
      reason: "database",
    });
    const deadBefore = await rawCount("dead_letters");
    const drBefore = await rawCount("dr_signals_raw");
    // Break this file's own database for the DR stream only.
    await db.pool.query("ALTER TABLE dr_signals_raw RENAME TO dr_signals_raw_away");
    try {
      await send(producer, topics.drSignals, [
        {
          key: "fail-1",
          value: {
            dr_event_id: "dr-fail",
            site_id: "fail-1",
            curtailment_pct: 20,
            event_start_ts: at(0),
            event_end_ts: at(60),
            signal_ts: at(0),
          },
        },
      ]);
      await until(
        async () =>
          (await metric(app, "scc_kafka_ingest_retries_total", { topic: topics.drSignals, reason: "database" })) >=
          retriesBefore + 2,
        { timeoutMs: 20_000, what: "the batch to be retried" },
      );
      expect((await readyz(app)).checks.kafka).toBe(false);
      expect(await committedOffsets(admin, groupId, topics.drSignals)).toEqual(committedBefore);
      expect(await rawCount("dead_letters")).toBe(deadBefore);
    } finally {
      await db.pool.query("ALTER TABLE dr_signals_raw_away RENAME TO dr_signals_raw");
    }
    await until(async () => (await rawCount("dr_signals_raw")) === drBefore + 1, {
      timeoutMs: 20_000,
      what: "the DR signal stored after the repair",
    });
    await until(() => caughtUp(admin, groupId, [topics.drSignals]), {
      timeoutMs: 20_000,
      what: "the offset committed after the repair",
    });
    await until(async () => (await readyz(app)).checks.kafka === true, { timeoutMs: 10_000, what: "healthy again" });
    expect(await rawCount("dead_letters")).toBe(deadBefore);
  });

  test("a replay (second group, same database) stores nothing twice; a second instance takes over the commands when the leader stops", async () => {
    await until(() => caughtUp(admin, groupId, inputTopics), { timeoutMs: 20_000, what: "first group caught up" });
    const tables = [
      "session_samples_raw",
      "site_demand_raw",
      "price_signals_raw",
      "dr_signals_raw",
      "dead_letters",
      "setpoint_commands",
    ];
    const counts = async () =>
      Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await rawCount(t)] as const)));
    const before = await counts();
    const dlqBefore = dlqReader.messages.length;
    const replayGroup = uniq("scc-bridge-replay");
    second = await startTestApp({ kafkaBrokers: brokers, kafkaTopics: topics, kafkaGroupId: replayGroup }, db);
    await until(() => caughtUp(admin, replayGroup, inputTopics), {
      timeoutMs: 30_000,
      what: "the replay group caught up",
    });
    expect(await counts()).toEqual(before);
    const good = tables.slice(0, 4).reduce((sum, t) => sum + (before[t] ?? 0), 0);
    let duplicates = 0;
    for (const t of inputTopics)
      duplicates += await metric(second, "scc_kafka_messages_total", { topic: t, outcome: "duplicate" });
    expect(duplicates).toBe(good);
    expect(await metric(second, "scc_kafka_messages_total", { topic: topics.siteDemand, outcome: "stored" })).toBe(0);
    // Dead letters already on the DLQ topic are not published again.
    expect(await metric(second, "scc_kafka_dlq_published_total", { topic: topics.siteDemand })).toBe(0);
    expect(dlqReader.messages.length).toBe(dlqBefore);

    // Leadership: the first instance publishes, the second waits; stop the first, the second takes over.
    expect(await metric(app, "scc_kafka_command_leader", {})).toBe(1);
    expect(await metric(second, "scc_kafka_command_leader", {})).toBe(0);
    const secondApp = second;
    await app.stop();
    await until(async () => (await metric(secondApp, "scc_kafka_command_leader", {})) === 1, {
      timeoutMs: 15_000,
      what: "the second instance to lead",
    });
    await send(producer, topics.sessionSamples, [
      {
        key: "cp-rt-c",
        value: {
          session_id: "rt-c",
          charge_point_id: "cp-rt-c",
          connector_id: 2,
          site_id: "rt-1",
          rated_power_kw: 11,
          session_start_ts: at(-3),
          sampled_ts: at(-2),
        },
      },
    ]);
    await until(async () => (await db.pool.query("SELECT 1 FROM setpoints WHERE session_id = 'rt-c'")).rowCount === 1, {
      timeoutMs: 20_000,
      what: "rt-c setpoint",
    });
    const commands = await commandRows();
    await until(
      () => {
        const onTopicNow = published();
        return commands.every((c) => onTopicNow.has(c.command_id));
      },
      { timeoutMs: 20_000, what: "all commands on the topic after the takeover" },
    );
    expect(published().get(commands.find((c) => c.session_id === "rt-c")?.command_id ?? "")?.key).toBe("cp-rt-c");
  }, 60_000);
});
