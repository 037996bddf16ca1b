// Time boundaries take effect with no new event (SPEC §3), and survive a restart.
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../helpers/app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { setClock } from "../helpers/events.js";

let database: TestDatabase;
let t: TestApp | null = null;
beforeAll(async () => {
  database = await createTestDatabase();
  t = await startTestApp({}, database);
});
afterAll(async () => {
  await t?.stop();
  await database.drop();
});

/** Virtual time runs at real speed from `base`; boundaries a few seconds ahead are real seconds. */
async function runClockFrom(base: Date): Promise<void> {
  await setClock(database.pool, base.toISOString(), 1);
}

async function until<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const iso = (base: Date, seconds: number) => new Date(base.getTime() + seconds * 1000).toISOString();

async function setpointKw(app: TestApp, session: string): Promise<number | null> {
  const r = await app.gql<{ session: { setpoint: { setpointKw: number } | null } | null }>(
    `query ($id: ID!) { session(id: $id) { setpoint { setpointKw } } }`,
    { id: session },
  );
  return r.data?.session?.setpoint?.setpointKw ?? null;
}

async function seedSite(app: TestApp, site: string, base: Date, sessions: string[]) {
  await app.gql(`mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id } }`, {
    input: { siteId: site, demandLimitKw: 40, currentDemandKw: 0, evLoadKw: 0, measuredTs: iso(base, 0) },
  });
  await app.gql(`mutation ($inputs: [SessionSampleInput!]!) { recordSessionSamples(inputs: $inputs) { accepted } }`, {
    inputs: sessions.map((id) => ({
      sessionId: id,
      chargePointId: `cp-${id}`,
      connectorId: 1,
      siteId: site,
      ratedPowerKw: 50,
      sessionStartTs: iso(base, 0),
      sampledTs: iso(base, 0),
    })),
  });
}

test("a price interval starting later takes effect within 1 s of its start, with no new event", async () => {
  const app = t as TestApp;
  const base = new Date("2026-06-01T08:00:00Z");
  await runClockFrom(base);
  await seedSite(app, "tb1", base, ["tb1-a"]);
  expect(await setpointKw(app, "tb1-a")).toBe(40);
  await app.gql(`mutation ($input: PriceSignalInput!) { publishPriceSignal(input: $input) { tariffId } }`, {
    input: {
      tariffId: "tou",
      siteId: "tb1",
      priceUsdKwh: 0.5,
      priceTier: "ON_PEAK",
      validFrom: iso(base, 2),
      validTo: iso(base, 4),
    },
  });
  expect(await setpointKw(app, "tb1-a")).toBe(40);
  await until(
    () => setpointKw(app, "tb1-a"),
    (kw) => kw === 20,
    3_500,
  );
  const { rows } = await database.pool.query("SELECT app_now() - $1::timestamptz AS lag", [iso(base, 2)]);
  expect(rows[0].lag.seconds ?? 0).toBeLessThan(2);
  // ...and ends at valid_to.
  await until(
    () => setpointKw(app, "tb1-a"),
    (kw) => kw === 40,
    4_000,
  );
});

test("a session with no sample for the session timeout stops being active; the others get its share", async () => {
  const app = t as TestApp;
  const base = new Date("2026-06-01T09:00:00Z");
  await runClockFrom(base);
  await app.gql(`mutation { configureSite(input: { siteId: "tb2", sessionTimeoutSeconds: 2 }) { id } }`);
  await seedSite(app, "tb2", base, ["tb2-a", "tb2-b"]);
  expect(await setpointKw(app, "tb2-a")).toBe(20);
  // Only tb2-b keeps reporting.
  await new Promise((r) => setTimeout(r, 1_000));
  await app.gql(`mutation ($input: SessionSampleInput!) { recordSessionSample(input: $input) { id } }`, {
    input: {
      sessionId: "tb2-b",
      chargePointId: "cp-tb2-b",
      connectorId: 1,
      siteId: "tb2",
      ratedPowerKw: 50,
      sessionStartTs: iso(base, 0),
      sampledTs: iso(base, 1.5),
    },
  });
  await until(
    () => setpointKw(app, "tb2-b"),
    (kw) => kw === 40,
    4_000,
  );
  const s = await app.gql(`{ session(id: "tb2-a") { active endReason } }`);
  expect(s.data?.session).toEqual({ active: false, endReason: "TIMEOUT" });
});

test("STALE_SITE_DATA is raised when site data goes stale, and the last values are kept", async () => {
  const app = t as TestApp;
  const base = new Date("2026-06-01T10:00:00Z");
  await runClockFrom(base);
  await app.gql(
    `mutation { configureSite(input: { siteId: "tb3", staleTimeoutSeconds: 1, sessionTimeoutSeconds: 600 }) { id } }`,
  );
  await seedSite(app, "tb3", base, ["tb3-a"]);
  const alerts = async () =>
    ((await app.gql(`{ alerts(siteId: "tb3") { type } }`)).data?.alerts as { type: string }[] | undefined)?.map(
      (a) => a.type,
    ) ?? [];
  await until(alerts, (types) => types.includes("STALE_SITE_DATA"), 3_000);
  expect(await setpointKw(app, "tb3-a")).toBe(40);
});

test("a boundary that passes while the service is down is applied at the next start", async () => {
  const base = new Date("2026-06-01T11:00:00Z");
  await runClockFrom(base);
  await seedSite(t as TestApp, "tb4", base, ["tb4-a"]);
  await (t as TestApp).gql(
    `mutation ($input: DemandResponseInput!) { dispatchDemandResponse(input: $input) { drEventId } }`,
    {
      input: {
        drEventId: "dr",
        siteId: "tb4",
        curtailmentPct: 50,
        eventStartTs: iso(base, 1.5),
        eventEndTs: iso(base, 600),
        signalTs: iso(base, 0),
      },
    },
  );
  await (t as TestApp).stop();
  t = null;
  await new Promise((r) => setTimeout(r, 2_000));
  const { rows } = await database.pool.query("SELECT setpoint_kw FROM setpoints WHERE session_id = 'tb4-a'");
  expect(rows[0].setpoint_kw).toBe(40);
  t = await startTestApp({}, database);
  await until(
    () => setpointKw(t as TestApp, "tb4-a"),
    (kw) => kw === 20,
    2_000,
  );
});
