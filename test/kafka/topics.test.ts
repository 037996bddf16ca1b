// The bridge creates its missing topics with KAFKA_TOPIC_PARTITIONS partitions and leaves
// existing ones as they are.
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.js";
import { until } from "../helpers/until.js";
import { createTopics, describeKafka, type KafkaTestEnv, startKafkaTestEnv } from "./kafka-helpers.js";

describeKafka("kafka topics", "Kafka topic creation test", () => {
  let env: KafkaTestEnv;
  let app: TestApp | null = null;

  beforeAll(async () => {
    env = await startKafkaTestEnv("scc-topics", []); // none created up front
  }, 90_000);

  afterAll(async () => {
    await app?.stop();
    await env?.close();
  }, 60_000);

  test("missing topics get KAFKA_TOPIC_PARTITIONS partitions; an existing topic keeps its own", async () => {
    const { admin, topics, groupId, brokers } = env;
    await createTopics(admin, [topics.siteDemand], 2); // exists before the service starts
    app = await startTestApp(
      { kafkaBrokers: brokers, kafkaTopics: topics, kafkaGroupId: groupId, kafkaTopicPartitions: 5 },
      env.db,
    );
    const partitions = async (topic: string) =>
      (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 0;
    await until(async () => (await partitions(topics.sessionSamples)) === 5, {
      timeoutMs: 30_000,
      what: "the sessions topic with 5 partitions",
    });
    for (const topic of [
      topics.priceSignals,
      topics.drSignals,
      topics.setpointCommands,
      `${topics.sessionSamples}.dlq`,
    ]) {
      expect(await partitions(topic)).toBe(5);
    }
    expect(await partitions(topics.siteDemand)).toBe(2);
  }, 90_000);
});
