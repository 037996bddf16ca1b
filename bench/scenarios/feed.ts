// The resumable feed (docs/feed.md), opt-in: `npm run bench -- --only=feed [--quick]`.
// A load run (rounds of session samples over a small fleet, through the SQL ingest path) while a
// graphql-ws subscriber is killed (its socket terminated, no goodbye) and restarted 20 times, each
// time resuming after the last cursor it received. Then:
//   exactly once: every command of the run received once, in cursor order (ids against the outbox);
//   reconnect -> live: from a restart until the subscriber holds every command committed before it;
//   replay rate: a new subscriber after the run's first cursor, commands/s until it has them all.
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import { benchFleet, chunk, roundSamples } from "../lib/data.js";
import { seedFleet } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { AUTH_HEADER, startService } from "../lib/service.js";
import { fmtMs, fmtNum, now, sleep, summarize } from "../lib/stats.js";

const FEED = `subscription ($after: String) { setpointChanged(after: $after) { cursor commandId } }`;

interface Received {
  cursor: string;
  commandId: string;
}

/** One subscription after a cursor; `kill()` drops the socket without closing the subscription. */
function subscriber(wsUrl: string, after: string, onEvent: (e: Received) => void) {
  const client: Client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: AUTH_HEADER,
    retryAttempts: 0,
    lazy: true,
  });
  const errors: unknown[] = [];
  let isConnected = false;
  const connected = new Promise<void>((resolve) =>
    client.on("connected", () => {
      isConnected = true;
      resolve();
    }),
  );
  client.subscribe<{ setpointChanged: Received }>(
    { query: FEED, variables: { after } },
    {
      next: (value) => {
        if (value.data) onEvent(value.data.setpointChanged);
        if (value.errors) errors.push(...value.errors);
      },
      error: (error) => {
        if (!(error instanceof Error && /terminated/i.test(error.message))) errors.push(error);
      },
      complete: () => {},
    },
  );
  return {
    errors,
    connected,
    // Terminating a socket that is still connecting makes ws throw; that one is just closed.
    kill: () => (isConnected ? client.terminate() : void client.dispose()),
    close: () => client.dispose(),
  };
}

/** What migration 013 and sql/080 add to every write, removed: the "before" of the same run. */
const WITHOUT_FEED = [
  "DROP TRIGGER setpoint_commands_feed_cursor ON setpoint_commands",
  "DROP TRIGGER alert_events_feed_cursor ON alert_events",
  "DROP TRIGGER alerts_log_inserts ON alerts",
  "DROP TRIGGER alerts_log_updates ON alerts",
  "DROP INDEX setpoint_commands_cursor_idx, setpoint_commands_site_cursor_idx, setpoint_commands_unnumbered_idx",
];

/**
 * Ingest throughput with and without the cursor numbering, in the same run: two databases with
 * the same fleet, rounds of batches of 1,000 samples alternating between them (so both see the
 * same machine load).
 */
async function ingestWithAndWithout(ctx: Parameters<Scenario["run"]>[0]): Promise<Row[]> {
  const fleet = benchFleet(ctx.quick ? 100 : 300);
  const withFeed = await ctx.cluster.createDatabase("feed_with");
  const without = await ctx.cluster.createDatabase("feed_without");
  try {
    for (const statement of WITHOUT_FEED) await without.pool.query(statement);
    await seedFleet(withFeed, fleet);
    await seedFleet(without, fleet);
    const ms = { with: 0, without: 0 };
    let samples = 0;
    const rounds = ctx.quick ? 6 : 12;
    for (let round = 1; round <= rounds; round++) {
      const parts = chunk(roundSamples(fleet, round), 1000);
      for (const [name, database] of [
        ["with", withFeed],
        ["without", without],
      ] as const) {
        const t0 = now();
        for (const part of parts) await insertStream(database.db, INPUT_STREAMS.sessionSamples, part);
        ms[name] += now() - t0;
      }
      samples += parts.reduce((n, p) => n + p.length, 0);
    }
    const rate = (t: number) => (samples / t) * 1000;
    return [
      {
        metric: `ingest, batches of 1,000 (${fmtNum(samples)} samples, alternating): with cursors`,
        value: `${fmtNum(rate(ms.with))} samples/s`,
        baseline: `${fmtNum(rate(ms.without))} (without)`,
        ratio: `${(ms.without / ms.with).toFixed(2)}x`,
      },
    ];
  } finally {
    await withFeed.drop();
    await without.drop();
  }
}

export const feedScenario: Scenario = {
  name: "feed",
  title: "resumable feed: 20 kills and restarts during a load run, replay rate, reconnect -> live",
  optIn: true,
  async run(ctx) {
    const database = await ctx.cluster.createDatabase("feed");
    const fleet = benchFleet(ctx.quick ? 30 : 100);
    await seedFleet(database, fleet);
    const service = await startService(ctx, database);
    const head = async () =>
      BigInt((await database.pool.query<{ value: string }>("SELECT value FROM feed_counter")).rows[0]?.value ?? 0);
    const rows: Row[] = [];
    const data: Record<string, unknown> = {};
    try {
      ctx.log("feed: ingest with and without cursor numbering, alternating");
      rows.push(...(await ingestWithAndWithout(ctx)));
      ctx.log("feed: 20 kills and restarts during a load run");
      const start = (await head()).toString();
      const received: Received[] = [];
      let last = start;
      const onEvent = (e: Received) => {
        received.push(e);
        last = e.cursor;
      };
      // Load: rounds of samples in batches of 500, as fast as the database takes them.
      let loading = true;
      let killing = true;
      const rounds = ctx.quick ? 12 : 30;
      const load = (async () => {
        for (let round = 1; round <= rounds || killing; round++) {
          for (const part of chunk(roundSamples(fleet, round), 500))
            await insertStream(database.db, INPUT_STREAMS.sessionSamples, part);
        }
      })().finally(() => {
        loading = false;
      });

      const kills = 20;
      const reconnectMs: number[] = [];
      let sub = subscriber(service.wsUrl, last, onEvent);
      const errors: unknown[] = [];
      for (let k = 0; k < kills; k++) {
        await Promise.race([sub.connected, sleep(30_000)]);
        await sleep(150 + Math.random() * 250);
        sub.kill();
        errors.push(...sub.errors);
        const restartedAt = now();
        // every command committed before the restart
        const target = BigInt(
          (await database.pool.query<{ c: string | null }>("SELECT max(cursor)::text AS c FROM setpoint_commands"))
            .rows[0]?.c ?? 0,
        );
        sub = subscriber(service.wsUrl, last, onEvent);
        void (async () => {
          while (BigInt(last) < target && now() - restartedAt < 60_000) await sleep(2);
          reconnectMs.push(now() - restartedAt);
        })();
      }
      const killsDuringLoad = loading;
      killing = false;
      await load;
      const end = await head();
      const waitStart = now();
      while (now() - waitStart < 120_000) {
        const { rows: max } = await database.pool.query<{ c: string | null }>(
          "SELECT max(cursor)::text AS c FROM setpoint_commands",
        );
        if (max[0]?.c === last || (max[0]?.c !== null && BigInt(last) >= BigInt(max[0]?.c ?? 0))) break;
        await sleep(20);
      }
      errors.push(...sub.errors);
      await sub.close();
      const { rows: outbox } = await database.pool.query<{ command_id: string }>(
        "SELECT command_id FROM setpoint_commands WHERE cursor > $1 ORDER BY cursor",
        [start],
      );
      const ids = received.map((e) => e.commandId);
      const unique = new Set(ids).size;
      const exact = ids.length === outbox.length && ids.every((id, i) => id === outbox[i]?.command_id);
      rows.push(
        { metric: "commands in the run (outbox)", value: fmtNum(outbox.length) },
        {
          metric: `received by the subscriber killed ${kills} times`,
          value: `${fmtNum(ids.length)} (${fmtNum(unique)} distinct, ${fmtNum(ids.length - unique)} repeated)`,
        },
        {
          metric: "exactly once, in cursor order (ids against the outbox)",
          value: `${exact ? "yes" : "NO"}${killsDuringLoad ? "" : " (the load ended before the last kill)"}; errors: ${errors.length}`,
        },
      );
      const r = summarize(reconnectMs);
      rows.push({ metric: "reconnect -> live p50 / p99 (n=20)", value: `${fmtMs(r.p50)} / ${fmtMs(r.p99)}` });

      // Replay: a new subscriber after the run's first cursor.
      const backlog = outbox.length;
      let got = 0;
      const t0 = now();
      const replay = subscriber(service.wsUrl, start, () => {
        got += 1;
      });
      while (got < backlog && now() - t0 < 120_000) await sleep(2);
      const replayMs = now() - t0;
      await replay.close();
      rows.push({
        metric: `replay of ${fmtNum(backlog)} commands over graphql-ws`,
        value: `${fmtNum((got / replayMs) * 1000)} commands/s (${fmtMs(replayMs)})`,
      });
      Object.assign(data, {
        commands: outbox.length,
        received: ids.length,
        distinct: unique,
        exact,
        killsDuringLoad,
        errors: errors.map(String),
        reconnectMs,
        replayCommandsPerSecond: (got / replayMs) * 1000,
        headAtEnd: end.toString(),
      });
    } finally {
      await service.stop();
      await database.drop();
    }
    return { rows, data };
  },
};
