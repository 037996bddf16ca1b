import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("config", () => {
  test("defaults", () => {
    const config = loadConfig({}, "/srv/app");
    expect(config).toMatchObject({
      port: 4000,
      databaseUrl: null,
      dataDir: "/srv/app/.data",
      kafkaBrokers: null,
      apiKeys: null,
      logLevel: "info",
      nodeEnv: "development",
      wsMaxInFlight: 10,
      maxConnectionsPerKey: 100,
      maxSubscriptionsPerKey: 1000,
      authFailuresPerMinute: 60,
      kafkaBatchMaxMessages: 5000,
      kafkaBatchWaitMs: 5,
      kafkaTopicPartitions: 6,
      retention: {
        rawDays: 30,
        commandsDays: 7,
        alertsDays: 90,
        deadLettersDays: 30,
        partitionHours: 24,
        partitionsAhead: 2,
        intervalSeconds: 300,
        abandonedSlotDropMinutes: 60,
      },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  test("parses every variable", () => {
    const config = loadConfig({
      PORT: "8080",
      DATABASE_URL: "postgres://u:p@db:5432/scc",
      DATA_DIR: "/var/lib/scc",
      KAFKA_BROKERS: "k1:9092, k2:9093",
      API_KEYS: "adminkey123:admin;ingestkey1:ingest:site-1,site-2",
      LOG_LEVEL: "debug",
      NODE_ENV: "production",
      WS_MAX_IN_FLIGHT: "10",
      MAX_CONNECTIONS_PER_KEY: "5",
      MAX_SUBSCRIPTIONS_PER_KEY: "50",
      AUTH_FAILURES_PER_MINUTE: "0",
      KAFKA_BATCH_MAX_MESSAGES: "2000",
      KAFKA_BATCH_WAIT_MS: "0",
      KAFKA_TOPIC_PARTITIONS: "12",
      RETENTION_RAW_DAYS: "3",
      RETENTION_COMMANDS_DAYS: "0",
      RETENTION_ALERTS_DAYS: "365",
      RETENTION_DEAD_LETTERS_DAYS: "14",
      RETENTION_PARTITION_HOURS: "6",
      RETENTION_PARTITIONS_AHEAD: "4",
      RETENTION_INTERVAL_SECONDS: "60",
      ABANDONED_SLOT_DROP_MINUTES: "0",
    });
    expect(config).toMatchObject({
      wsMaxInFlight: 10,
      maxConnectionsPerKey: 5,
      maxSubscriptionsPerKey: 50,
      authFailuresPerMinute: 0,
      kafkaBatchMaxMessages: 2000,
      kafkaBatchWaitMs: 0,
      kafkaTopicPartitions: 12,
      retention: {
        rawDays: 3,
        commandsDays: 0,
        alertsDays: 365,
        deadLettersDays: 14,
        partitionHours: 6,
        partitionsAhead: 4,
        intervalSeconds: 60,
        abandonedSlotDropMinutes: 0,
      },
      port: 8080,
      databaseUrl: "postgres://u:p@db:5432/scc",
      dataDir: "/var/lib/scc",
      kafkaBrokers: ["k1:9092", "k2:9093"],
      logLevel: "debug",
      nodeEnv: "production",
      apiKeys: [
        { key: "adminkey123", role: "admin", sites: null },
        { key: "ingestkey1", role: "ingest", sites: ["site-1", "site-2"] },
      ],
    });
  });

  test.each([
    [{ PORT: "http" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ DATABASE_URL: "not a url" }, "DATABASE_URL"],
    [{ DATABASE_URL: "mysql://x@y/z" }, "DATABASE_URL"],
    [{ KAFKA_BROKERS: "localhost" }, "KAFKA_BROKERS"],
    [{ KAFKA_BROKERS: "a:1,,b:2" }, "KAFKA_BROKERS"],
    [{ API_KEYS: "short:admin" }, "API_KEYS"],
    [{ API_KEYS: "longenoughkey:owner" }, "API_KEYS"],
    [{ API_KEYS: "longenoughkey:admin:" }, "API_KEYS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ NODE_ENV: "staging" }, "NODE_ENV"],
    [{ KAFKA_TOPIC_SESSIONS: "bad topic" }, "KAFKA_TOPIC_SESSIONS"],
    [{ WS_MAX_IN_FLIGHT: "0" }, "WS_MAX_IN_FLIGHT"],
    [{ WS_MAX_IN_FLIGHT: "many" }, "WS_MAX_IN_FLIGHT"],
    [{ MAX_CONNECTIONS_PER_KEY: "1.5" }, "MAX_CONNECTIONS_PER_KEY"],
    [{ MAX_SUBSCRIPTIONS_PER_KEY: "-1" }, "MAX_SUBSCRIPTIONS_PER_KEY"],
    [{ AUTH_FAILURES_PER_MINUTE: "ten" }, "AUTH_FAILURES_PER_MINUTE"],
    [{ KAFKA_BATCH_MAX_MESSAGES: "0" }, "KAFKA_BATCH_MAX_MESSAGES"],
    [{ KAFKA_BATCH_WAIT_MS: "-5" }, "KAFKA_BATCH_WAIT_MS"],
    [{ KAFKA_TOPIC_PARTITIONS: "three" }, "KAFKA_TOPIC_PARTITIONS"],
    [{ RETENTION_RAW_DAYS: "-1" }, "RETENTION_RAW_DAYS"],
    [{ RETENTION_COMMANDS_DAYS: "1.5" }, "RETENTION_COMMANDS_DAYS"],
    [{ RETENTION_ALERTS_DAYS: "forever" }, "RETENTION_ALERTS_DAYS"],
    [{ RETENTION_DEAD_LETTERS_DAYS: "40000" }, "RETENTION_DEAD_LETTERS_DAYS"],
    [{ RETENTION_PARTITION_HOURS: "0" }, "RETENTION_PARTITION_HOURS"],
    [{ RETENTION_PARTITIONS_AHEAD: "0" }, "RETENTION_PARTITIONS_AHEAD"],
    [{ RETENTION_INTERVAL_SECONDS: "0" }, "RETENTION_INTERVAL_SECONDS"],
    [{ ABANDONED_SLOT_DROP_MINUTES: "-5" }, "ABANDONED_SLOT_DROP_MINUTES"],
  ])("rejects %o naming %s", (env, variable) => {
    expect(() => loadConfig(env)).toThrowError(ConfigError);
    expect(() => loadConfig(env)).toThrowError(new RegExp(`^Invalid configuration: ${variable} `));
  });
});
