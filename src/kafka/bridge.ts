// Placeholder replaced by the Kafka bridge implementation.
import type { Logger } from "pino";
import type { KafkaTopics } from "../config.js";
import type { Database } from "../db/database.js";
import type { Metrics } from "../ops/metrics.js";

export interface KafkaBridgeOptions {
  brokers: readonly string[];
  topics: KafkaTopics;
  groupId: string;
  database: Database;
  logger: Logger;
  metrics: Metrics;
}

export interface KafkaBridge {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** False while the consumer or producer cannot work (for /readyz). */
  healthy(): boolean;
}

export function createKafkaBridge(_options: KafkaBridgeOptions): KafkaBridge {
  throw new Error("Kafka bridge not implemented yet");
}
