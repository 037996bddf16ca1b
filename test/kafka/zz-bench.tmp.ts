import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { randomBytes } from "node:crypto";
const scenario = process.argv[2] ?? "steady";
const N = Number(process.argv[3] ?? 10000);
const id = randomBytes(3).toString("hex");
const topics = { sessionSamples: `b${id}.s`, siteDemand: `b${id}.d`, priceSignals: `b${id}.p`, drSignals: `b${id}.r`, setpointCommands: `b${id}.c` };
const app = buildApp({ ...loadConfig({ LOG_LEVEL: "warn", DATA_DIR: "/tmp/kbench/data" }), port: 0, kafkaBrokers: ["127.0.0.1:9092"], kafkaTopics: topics, kafkaGroupId: `g${id}` });
await app.start();
const pool = app.database.pool;
await pool.query("SELECT set_clock($1, 0)", ["2026-06-01T12:00:00Z"]);
const T0 = Date.parse("2026-06-01T12:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const kafka = new Kafka({ clientId: "bench", brokers: ["127.0.0.1:9092"], logLevel: logLevel.NOTHING });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const SITES = 20;
await producer.send({ topic: topics.siteDemand, messages: Array.from({ length: SITES }, (_, i) => ({ key: `s${i}`, value: JSON.stringify({ site_id: `${id}-s${i}`, demand_limit_kw: 100, current_demand_kw: 10, ev_load_kw: 0, measured_ts: at(-30) }) })) });
const msgs = [];
for (let n = 0; n < N; n++) {
  const sess = scenario === "steady" ? n % 200 : n;
  const site = sess % SITES;
  msgs.push({ key: `cp-${sess}`, value: JSON.stringify({ session_id: `${id}-x${sess}`, charge_point_id: `cp-${sess}`, connector_id: 1, site_id: `${id}-s${site}`, rated_power_kw: 11, current_power_kw: (n % 7), session_start_ts: at(-1800 + (n % 1000)), sampled_ts: at(-120 + n * 0.01) }) });
}
const t0 = performance.now();
const chunk = scenario === "trickle" ? 30 : 1000;
for (let i = 0; i < msgs.length; i += chunk) { await producer.send({ topic: topics.sessionSamples, messages: msgs.slice(i, i + chunk) }); if (scenario === "trickle") await new Promise((r) => setTimeout(r, 50)); }
const tProduced = performance.now();
for (;;) {
  const { rows } = await pool.query("SELECT count(*)::int n FROM session_samples_raw WHERE kafka_topic = $1", [topics.sessionSamples]);
  if (rows[0].n >= N) break;
  await new Promise((r) => setTimeout(r, 20));
}
const tStored = performance.now();
const { rows: c } = await pool.query("SELECT count(*)::int n FROM setpoint_commands WHERE site_id LIKE $1", [`${id}-%`]);
const want = c[0].n;
for (;;) {
  const m = await app.metrics.registry.getSingleMetric("scc_kafka_commands_published_total")?.get();
  const v = m?.values.reduce((s, x) => s + x.value, 0) ?? 0;
  if (v >= want) break;
  await new Promise((r) => setTimeout(r, 20));
}
const tPub = performance.now();
const h = await app.metrics.registry.getSingleMetric("scc_kafka_batch_duration_seconds")?.get();
const cnt = h?.values.find((v) => v.metricName === "scc_kafka_batch_duration_seconds_count" && v.labels.topic === topics.sessionSamples)?.value;
const sum = h?.values.find((v) => v.metricName === "scc_kafka_batch_duration_seconds_sum" && v.labels.topic === topics.sessionSamples)?.value;
console.log(JSON.stringify({ scenario, N, produceMs: Math.round(tProduced - t0), storeMs: Math.round(tStored - t0), msgsPerSec: Math.round(N / ((tStored - t0) / 1000)), commands: want, publishedAllMs: Math.round(tPub - t0), batches: cnt, avgBatchMs: sum && cnt ? Math.round((sum / cnt) * 1000) : null }));
await producer.disconnect();
await app.stop();
process.exit(0);
