// SPEC §9-§11 over Kafka: the electrical fields and the per-phase currents in snake_case (a bad
// one dead-lettered by its snake_case name), ocpp_version and ocpp_request on every command
// message exactly as in the outbox, and a failsafe message per site change on the failsafe topic.
import type { Producer } from "kafkajs";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { KafkaTopics } from "../../src/config.js";
import { validateSchema } from "../chargepoints/ocpp.helpers.js";
import { startTestApp, type TestApp } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/db.js";
import { at, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";
import {
  type Collector,
  collect,
  connectProducer,
  describeKafka,
  type KafkaTestEnv,
  send,
  sessionSample,
  startKafkaTestEnv,
} from "./kafka-helpers.js";

describeKafka("kafka ocpp", "Kafka OCPP tests", () => {
  let env: KafkaTestEnv;
  let db: TestDatabase;
  let topics: KafkaTopics;
  let app: TestApp;
  let producer: Producer;
  let commands: Collector;
  let failsafe: Collector;

  beforeAll(async () => {
    env = await startKafkaTestEnv("scc-ocpp");
    ({ topics, db } = env);
    app = await startTestApp({ kafkaBrokers: env.brokers, kafkaTopics: topics, kafkaGroupId: env.groupId }, db);
    producer = await connectProducer(env.kafka);
    commands = await collect(env.kafka, [topics.setpointCommands]);
    failsafe = await collect(env.kafka, [topics.failsafeProfiles]);
  }, 90_000);

  afterAll(async () => {
    await commands?.stop().catch(() => {});
    await failsafe?.stop().catch(() => {});
    await producer?.disconnect().catch(() => {});
    await app?.stop().catch(() => {});
    await env?.close();
  }, 60_000);

  test("electrical fields in, OCPP requests and failsafe profiles out", async () => {
    await until(
      async () =>
        ((await (await fetch(app.url.replace(/\/graphql$/, "/readyz"))).json()) as { checks: { kafka: boolean } })
          .checks.kafka === true,
      { timeoutMs: 60_000, what: "readyz kafka" },
    );
    const site = "ko-1";
    const r = await app.gql(
      `mutation { configureChargePoint(input: { chargePointId: "cp-ko-a", siteId: "${site}", ocppVersion: V201 }) { chargePointId } }`,
    );
    expect(r.errors).toBeUndefined();
    await app.gql(`mutation { configureSite(input: { siteId: "${site}", phaseLimitA: 40 }) { id } }`);
    await send(producer, topics.siteDemand, [
      {
        key: site,
        value: {
          site_id: site,
          demand_limit_kw: 60,
          current_demand_kw: 0,
          ev_load_kw: 0,
          measured_ts: T0,
          phase_currents_a: [8, 0, 0],
        },
      },
    ]);
    const sample = (session: string, extra: Record<string, unknown>) =>
      sessionSample(site, session, { rated_power_kw: 22, session_start_ts: at(-100), sampled_ts: at(-50), ...extra });
    await send(producer, topics.sessionSamples, [
      sample("ko-a", { phases: 3, voltage_v: 230, transaction_id: "b7c1-2e" }),
      sample("ko-b", { phases: 1, phase: "L2", transaction_id: 99 }),
      sample("ko-bad", { phase: "L9" }),
    ]);
    // (the two samples are on different partitions: one or two recomputes, two or more commands)
    await until(
      async () => (await db.pool.query("SELECT 1 FROM setpoints WHERE site_id = $1", [site])).rowCount === 2,
      { timeoutMs: 60_000, what: "both sessions' setpoints" },
    );
    const { rows: sessions } = await db.pool.query(
      "SELECT session_id, phases, phase, voltage_v, transaction_id FROM sessions WHERE site_id = $1 ORDER BY 1",
      [site],
    );
    expect(sessions).toEqual([
      { session_id: "ko-a", phases: 3, phase: null, voltage_v: 230, transaction_id: "b7c1-2e" },
      { session_id: "ko-b", phases: 1, phase: "L2", voltage_v: null, transaction_id: "99" },
    ]);
    const { rows: phaseCurrents } = await db.pool.query("SELECT phase_currents_a FROM sites WHERE site_id = $1", [
      site,
    ]);
    expect(phaseCurrents[0].phase_currents_a).toEqual([8, 0, 0]);
    await until(
      async () => (await db.pool.query("SELECT reason FROM dead_letters WHERE reason LIKE 'phase:%'")).rowCount === 1,
      { timeoutMs: 60_000, what: "the bad sample dead-lettered" },
    );

    // Every command message carries the outbox's ocpp_version and ocpp_request, unchanged.
    const { rows: outbox } = await db.pool.query(
      "SELECT command_id, ocpp_version, ocpp_request FROM setpoint_commands WHERE site_id = $1",
      [site],
    );
    await until(() => commands.messages.length >= outbox.length, { timeoutMs: 60_000, what: "the command messages" });
    for (const row of outbox) {
      const message = commands.messages
        .map((m) => JSON.parse(m.value ?? "{}"))
        .find((m: { command_id: string }) => m.command_id === row.command_id);
      expect(message).toMatchObject({ ocpp_version: row.ocpp_version, ocpp_request: row.ocpp_request });
      validateSchema(row.ocpp_version, message.ocpp_request);
    }

    // The failsafe topic: the site's newest version, one profile per connector.
    const newest = async () =>
      (await db.pool.query("SELECT version, published_version FROM site_failsafe WHERE site_id = $1", [site])).rows[0];
    await until(
      async () => {
        const v = await newest();
        return v !== undefined && v.version === v.published_version;
      },
      { timeoutMs: 60_000, what: "the failsafe published" },
    );
    const version = Number((await newest()).version);
    const onTopicAll = () =>
      failsafe.messages.map((m) => JSON.parse(m.value ?? "{}")).filter((m) => m.site_id === site);
    const onTopic = () => onTopicAll().filter((m) => m.version === version);
    await until(() => onTopic().length > 0, { timeoutMs: 60_000, what: `failsafe version ${version} on the topic` });
    const value = onTopic()[0];
    expect(value).toMatchObject({ site_id: site, version: Number((await newest()).version) });
    expect(value.profiles.map((p: { charge_point_id: string }) => p.charge_point_id)).toEqual(["cp-ko-a", "cp-ko-b"]);
    for (const p of value.profiles) validateSchema(p.ocpp_version, p.ocpp_request);
    // A new cap: a new version on the topic.
    await send(producer, topics.siteDemand, [
      {
        key: site,
        value: { site_id: site, demand_limit_kw: 30, current_demand_kw: 0, ev_load_kw: 0, measured_ts: at(1) },
      },
    ]);
    await until(() => onTopicAll().some((m) => m.ev_cap_kw === 30 && m.version > version), {
      timeoutMs: 60_000,
      what: "a failsafe message for the new cap",
    });
  }, 240_000);
});
