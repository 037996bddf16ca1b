// Soak (bounded storage, SPEC §13): a simulated month of meter values for 1,000 sessions (50 sites
// x 20) with 7-day retention. The service clock is driven forward batch by batch; samples go
// through the SQL ingest path (insertStream, the statement-level triggers, recompute, commands) in
// batches of several rounds; at the end of each simulated day the retention pass runs (as the
// service's job would) and the sizes are read. Scaled down to fit minutes on a shared machine: one
// sample per session every SOAK_INTERVAL_MINUTES simulated minutes (10; --quick: 30), not every
// minute (every minute is 43 million samples, about 2 GB kept at 7 days).
import type { RetentionConfig } from "../../src/config.js";
import { insertStream } from "../../src/ingest/ingest.repository.js";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import type { SessionSample } from "../../src/ingest/validate.js";
import { boundedTableBytes, runRetention } from "../../src/storage/retention.js";
import type { BenchDatabase } from "../lib/cluster.js";
import { type Fleet, ratedKw, sessionId, siteDemand, siteId } from "../lib/data.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { fmtNum, fmtRatio, now } from "../lib/stats.js";

const DAY_MS = 86_400_000;
const DAYS = 30;
/** Rounds (one sample per session) stored per INSERT: a large batch, as the Kafka consumer does. */
const ROUNDS_PER_BATCH = 6;

const RETENTION: RetentionConfig = {
  rawDays: 7,
  commandsDays: 7,
  alertsDays: 7,
  deadLettersDays: 7,
  partitionHours: 24,
  partitionsAhead: 2,
  intervalSeconds: 300,
  abandonedSlotDropMinutes: 60,
};

function round(fleet: Fleet, r: number, at: Date): SessionSample[] {
  const out: SessionSample[] = [];
  for (let s = 0; s < fleet.sites; s++) {
    const site = siteId(s, fleet.prefix);
    for (let j = 0; j < fleet.sessionsPerSite; j++) {
      // The rated power moves every 12 rounds: some setpoints and commands change, most samples are meter values.
      const rated = ratedKw(j, Math.floor(r / 12));
      out.push({
        sessionId: sessionId(site, j),
        chargePointId: `${site}-cp${j}`,
        connectorId: 1,
        siteId: site,
        idTag: null,
        ratedPowerKw: rated,
        currentPowerKw: Math.round(rated * 60) / 100,
        socPct: (r + j) % 100,
        energyKwh: r * 0.1,
        sessionStartTs: fleet.t0,
        sampledTs: at,
        endedTs: null,
        departureTs: null,
        requestedEnergyKwh: null,
        evMaxKw: null,
        evMinKw: null,
        bidUsdKwh: null,
        priority: null,
        phases: null,
        phase: null,
        voltageV: null,
        transactionId: null,
      });
    }
  }
  return out;
}

interface Day {
  day: number;
  samples: number;
  insertMs: number;
  samplesPerSecond: number;
  databaseBytes: number;
  boundedBytes: number;
  rawRows: number;
  commandRows: number;
  alertRows: number;
  partitions: number;
  dropped: number;
  retentionMs: number;
}

/** Every relation that is not a partition (catalogs included), with its indexes and TOAST. */
async function relationSizes(pool: import("pg").Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ name: string; bytes: string }>(
    `SELECT c.oid::regclass::text AS name, pg_total_relation_size(c.oid)::text AS bytes
     FROM pg_class c WHERE c.relkind IN ('r', 'm') AND NOT c.relispartition`,
  );
  return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
}

const mb = (bytes: number) => `${fmtNum(bytes / 1024 ** 2, 1)} MB`;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

interface Simulation {
  fleet: Fleet;
  intervalMinutes: number;
  roundsPerDay: number;
}

async function startSimulation(database: BenchDatabase, fleet: Fleet): Promise<void> {
  await database.pool.query("SELECT set_clock($1, 0)", [fleet.t0.toISOString()]);
  await runRetention(database.pool, RETENTION);
  await insertStream(database.db, INPUT_STREAMS.siteDemand, siteDemand(fleet));
}

/** Rounds [from, to) of a simulated day, ROUNDS_PER_BATCH per INSERT, the clock at each batch's last round. */
async function simulate(
  database: BenchDatabase,
  sim: Simulation,
  day: number,
  from: number,
  to: number,
): Promise<{ samples: number; ms: number }> {
  const { fleet, intervalMinutes, roundsPerDay } = sim;
  let samples = 0;
  let ms = 0;
  for (let inDay = from; inDay < to; inDay += ROUNDS_PER_BATCH) {
    const batch: SessionSample[] = [];
    let at = fleet.t0;
    for (let k = inDay; k < Math.min(to, inDay + ROUNDS_PER_BATCH); k++) {
      at = new Date(fleet.t0.getTime() + day * DAY_MS + k * intervalMinutes * 60_000);
      batch.push(...round(fleet, day * roundsPerDay + k, at));
    }
    await database.pool.query("SELECT set_clock($1, 0)", [at.toISOString()]);
    const started = now();
    await insertStream(database.db, INPUT_STREAMS.sessionSamples, batch);
    await insertStream(database.db, INPUT_STREAMS.siteDemand, siteDemand(fleet, at));
    ms += now() - started;
    samples += batch.length;
  }
  return { samples, ms };
}

/**
 * The end of a simulated day: the retention pass (as the service's job would run it), then a
 * VACUUM. A simulated day is seconds here; a real one gives autovacuum some 1,400 rounds (the
 * catalogs of created and dropped partitions, the updated sessions, setpoints and sites, the
 * deleted alerts): one VACUUM stands for them, outside the measured inserts.
 */
async function endOfDay(database: BenchDatabase, sim: Simulation, day: number) {
  await database.pool.query("SELECT set_clock($1, 0)", [
    new Date(sim.fleet.t0.getTime() + (day + 1) * DAY_MS - 1).toISOString(),
  ]);
  const results = await runRetention(database.pool, RETENTION);
  await database.pool.query("VACUUM");
  return results;
}

export const soakScenario: Scenario = {
  name: "soak",
  title: "bounded storage: a simulated month of samples for 1,000 sessions with 7-day retention",
  optIn: true,
  async run(ctx) {
    const intervalMinutes = Number(process.env.SOAK_INTERVAL_MINUTES ?? (ctx.quick ? 30 : 10));
    const roundsPerDay = Math.round((24 * 60) / intervalMinutes);
    const fleet: Fleet = { prefix: "soak", sites: 50, sessionsPerSite: 20, t0: new Date("2030-01-01T00:00:00Z") };
    const sim = { fleet, intervalMinutes, roundsPerDay };
    const database = await ctx.cluster.createDatabase("soak");
    const days: Day[] = [];
    let growth: { relation: string; day10: number; day30: number }[] = [];
    let sameTime: { soakedPerSecond: number; freshPerSecond: number; samples: number } | null = null;
    try {
      const { pool } = database;
      await startSimulation(database, fleet);
      for (let day = 0; day < DAYS; day++) {
        const { samples, ms: insertMs } = await simulate(database, sim, day, 0, roundsPerDay);
        // The end of the simulated day: the retention pass, then the sizes.
        const retentionStarted = now();
        const results = await endOfDay(database, sim, day);
        const retentionMs = now() - retentionStarted;
        const bounded = await boundedTableBytes(pool);
        const { rows } = await pool.query<{ db: string; raw: number; commands: number; alerts: number; parts: number }>(
          `SELECT pg_database_size(current_database())::text AS db,
                  (SELECT count(*)::int FROM session_samples_raw) AS raw,
                  (SELECT count(*)::int FROM setpoint_commands) AS commands,
                  (SELECT count(*)::int FROM alerts) AS alerts,
                  (SELECT count(*)::int FROM partition_bounds('session_samples_raw')) AS parts`,
        );
        const row = rows[0];
        const d: Day = {
          day: day + 1,
          samples,
          insertMs,
          samplesPerSecond: samples / (insertMs / 1000),
          databaseBytes: Number(row?.db ?? 0),
          boundedBytes: Object.values(bounded).reduce((a, b) => a + b, 0),
          rawRows: row?.raw ?? 0,
          commandRows: row?.commands ?? 0,
          alertRows: row?.alerts ?? 0,
          partitions: row?.parts ?? 0,
          dropped: results.reduce((a, x) => a + x.dropped, 0),
          retentionMs,
        };
        days.push(d);
        if (d.day === 10 || d.day === DAYS) {
          const sizes = await relationSizes(pool);
          if (d.day === 10) growth = [...sizes].map(([relation, bytes]) => ({ relation, day10: bytes, day30: 0 }));
          else
            growth = [...sizes]
              .map(([relation, bytes]) => ({
                relation,
                day10: growth.find((g) => g.relation === relation)?.day10 ?? 0,
                day30: bytes,
              }))
              .sort((a, b) => b.day30 - b.day10 - (a.day30 - a.day10))
              .slice(0, 8);
        }
        ctx.log(
          `soak: day ${d.day}: ${fmtNum(d.samplesPerSecond)} samples/s, database ${mb(d.databaseBytes)}, ` +
            `bounded tables ${mb(d.boundedBytes)}, raw rows ${fmtNum(d.rawRows)}, alerts ${fmtNum(d.alertRows)}, dropped ${d.dropped}`,
        );
      }
      // The load of a shared machine drifts over the minutes a soak takes: the end is also compared
      // with the start at the same time. A fresh database is brought to day 2, then both store an
      // eighth of a day in turn (soaked: day 31, fresh: day 3), eight times.
      ctx.log("soak: same-time comparison with a fresh database at day 2");
      const fresh = await ctx.cluster.createDatabase("soak_fresh");
      try {
        await startSimulation(fresh, fleet);
        for (let day = 0; day < 2; day++) {
          await simulate(fresh, sim, day, 0, roundsPerDay);
          await endOfDay(fresh, sim, day);
        }
        // Eighths of a day in turn, the order flipped every other time (AB BA ...) so a drift of
        // the machine's load weighs on both sides alike.
        const part = Math.ceil(roundsPerDay / 8);
        let soakedMs = 0;
        let freshMs = 0;
        let samples = 0;
        for (let q = 0; q < 8; q++) {
          const from = q * part;
          const to = Math.min(roundsPerDay, from + part);
          if (from >= to) break;
          const soaked = () => simulate(database, sim, DAYS, from, to);
          const young = () => simulate(fresh, sim, 2, from, to);
          const [a, b] = q % 2 === 0 ? [await soaked(), await young()] : [await young(), await soaked()].reverse();
          soakedMs += a?.ms ?? 0;
          freshMs += b?.ms ?? 0;
          samples += a?.samples ?? 0;
        }
        sameTime = {
          soakedPerSecond: samples / (soakedMs / 1000),
          freshPerSecond: samples / (freshMs / 1000),
          samples,
        };
      } finally {
        await fresh.drop();
      }
    } finally {
      await database.drop();
    }
    const start = mean(days.slice(1, 3).map((d) => d.samplesPerSecond));
    const end = mean(days.slice(-2).map((d) => d.samplesPerSecond));
    const rows: Row[] = days.map((d) => ({
      metric: `day ${String(d.day).padStart(2)}: database | bounded tables | raw rows | commands | samples/s`,
      value: `${mb(d.databaseBytes)} | ${mb(d.boundedBytes)} | ${fmtNum(d.rawRows)} | ${fmtNum(d.commandRows)} | ${fmtNum(d.samplesPerSecond)}`,
    }));
    if (sameTime)
      rows.push({
        metric: "ingest throughput at the same time: day 31 of the soaked database against day 3 of a fresh one",
        value: fmtNum(sameTime.soakedPerSecond),
        baseline: fmtNum(sameTime.freshPerSecond),
        ratio: fmtRatio(sameTime.soakedPerSecond / sameTime.freshPerSecond),
      });
    rows.push({
      metric: "ingest throughput, days 29-30 against days 2-3 (samples/s)",
      value: fmtNum(end),
      baseline: fmtNum(start),
      ratio: fmtRatio(end / start),
    });
    const peak = Math.max(...days.map((d) => d.databaseBytes));
    const last = days.at(-1)?.databaseBytes ?? 0;
    rows.push({
      metric: "database size: day 30 against day 10 (retention reached day 8)",
      value: mb(last),
      baseline: mb(days[9]?.databaseBytes ?? 0),
      ratio: fmtRatio(last / (days[9]?.databaseBytes ?? 1)),
    });
    return {
      rows,
      details: `what grew most from day 10 to day 30 (partitions of the bounded tables excluded):\n${growth
        .map((g) => `  ${g.relation}: ${mb(g.day10)} -> ${mb(g.day30)}`)
        .join("\n")}`,
      data: {
        growth,
        intervalMinutes,
        roundsPerDay,
        roundsPerBatch: ROUNDS_PER_BATCH,
        retention: RETENTION,
        days,
        peak,
      },
    };
  },
};
