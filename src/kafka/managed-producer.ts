// A kafkajs producer that connects on first use and is thrown away after a failed send, so the
// next send starts from a fresh connection and a fresh producer id (kafkajs' idempotent producer
// can be left with stale sequence numbers after a failed request).
import type { Kafka, Producer, ProducerConfig, ProducerRecord, RecordMetadata } from "kafkajs";

export class ManagedProducer {
  private producer: Producer | null = null;
  private connecting: Promise<Producer> | null = null;
  private closed = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: ProducerConfig,
  ) {}

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    const producer = await this.get();
    try {
      return await producer.send(record);
    } catch (error) {
      this.discard(producer);
      throw error;
    }
  }

  private get(): Promise<Producer> {
    if (this.closed) return Promise.reject(new Error("producer closed"));
    if (this.producer) return Promise.resolve(this.producer);
    this.connecting ??= (async () => {
      const producer = this.kafka.producer(this.config);
      try {
        await producer.connect();
      } catch (error) {
        await producer.disconnect().catch(() => {});
        throw error;
      }
      if (this.closed) {
        await producer.disconnect().catch(() => {});
        throw new Error("producer closed");
      }
      this.producer = producer;
      return producer;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private discard(producer: Producer): void {
    if (this.producer !== producer) return;
    this.producer = null;
    void producer.disconnect().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    // A connect in progress disconnects by itself when it finishes (see get()); not waited for.
    const producer = this.producer;
    this.producer = null;
    await producer?.disconnect().catch(() => {});
  }
}
