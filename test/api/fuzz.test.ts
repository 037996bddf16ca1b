// Property-based fuzzing of every mutation's inputs: never a 500, never an internal error, and
// either the whole input is stored or nothing is.
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { bearer, startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const anyValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("", " x ", "2026-06-01T12:00:00Z", "2026-13-45T99:99:99Z", "NaN", "1e309", "ON_PEAK", "\u0000"),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1, maxKeys: 2 }),
);

const nearTime = fc
  .integer({ min: -86_400 * 3, max: 86_400 * 3 })
  .map((s) => new Date(Date.parse("2026-06-01T12:00:00Z") + s * 1000).toISOString());
const power = fc.oneof(fc.double({ min: -10, max: 400, noNaN: true }), fc.constantFrom(0, 3, 11, 22, 1e12));
const id = fc.oneof(
  fc.constantFrom("f-1", "f-2", "f-3"),
  fc.string({ maxLength: 4 }),
  fc.string({ minLength: 199, maxLength: 210 }),
);

/** A record of the given fields, each either plausible or garbage, some missing. */
function fuzzRecord(fields: Record<string, fc.Arbitrary<unknown>>) {
  const entries = Object.entries(fields).map(
    ([k, arb]) =>
      [
        k,
        fc.option(fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: anyValue }), {
          freq: 8,
          nil: undefined,
        }),
      ] as const,
  );
  return fc
    .record(Object.fromEntries(entries))
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
}

const sampleInput = fuzzRecord({
  sessionId: id,
  chargePointId: id,
  connectorId: fc.integer({ min: -2, max: 3 }),
  siteId: id,
  idTag: id,
  ratedPowerKw: power,
  currentPowerKw: power,
  socPct: fc.double({ min: -5, max: 110, noNaN: true }),
  energyKwh: power,
  sessionStartTs: nearTime,
  sampledTs: nearTime,
  ended: fc.boolean(),
});

const MUTATIONS: {
  name: string;
  query: string;
  table: string;
  input: fc.Arbitrary<unknown>;
  rows: (v: unknown) => number;
}[] = [
  {
    name: "recordSessionSamples",
    query: `mutation ($v: [SessionSampleInput!]!) { r: recordSessionSamples(inputs: $v) { accepted } }`,
    table: "session_samples_raw",
    input: fc.array(sampleInput, { maxLength: 5 }),
    rows: (v) => (v as unknown[]).length,
  },
  {
    name: "recordSessionSample",
    query: `mutation ($v: SessionSampleInput!) { r: recordSessionSample(input: $v) { id } }`,
    table: "session_samples_raw",
    input: sampleInput,
    rows: () => 1,
  },
  {
    name: "recordSiteDemand",
    query: `mutation ($v: SiteDemandInput!) { r: recordSiteDemand(input: $v) { id } }`,
    table: "site_demand_raw",
    input: fuzzRecord({
      siteId: id,
      demandLimitKw: power,
      currentDemandKw: power,
      evLoadKw: power,
      measuredTs: nearTime,
    }),
    rows: () => 1,
  },
  {
    name: "publishPriceSignal",
    query: `mutation ($v: PriceSignalInput!) { r: publishPriceSignal(input: $v) { tariffId } }`,
    table: "price_signals_raw",
    input: fuzzRecord({
      tariffId: id,
      siteId: id,
      priceUsdKwh: fc.double({ min: -1, max: 2, noNaN: true }),
      priceTier: fc.constantFrom("OFF_PEAK", "MID_PEAK", "ON_PEAK", "CRITICAL_PEAK", "HIGH"),
      validFrom: nearTime,
      validTo: nearTime,
    }),
    rows: () => 1,
  },
  {
    name: "dispatchDemandResponse",
    query: `mutation ($v: DemandResponseInput!) { r: dispatchDemandResponse(input: $v) { drEventId } }`,
    table: "dr_signals_raw",
    input: fuzzRecord({
      drEventId: id,
      siteId: id,
      curtailmentPct: fc.double({ min: -10, max: 120, noNaN: true }),
      baselineKw: power,
      eventStartTs: nearTime,
      eventEndTs: nearTime,
      signalTs: nearTime,
    }),
    rows: () => 1,
  },
  {
    name: "configureSite",
    query: `mutation ($v: SiteConfigInput!) { r: configureSite(input: $v) { id } }`,
    table: "sites",
    input: fuzzRecord({
      siteId: id,
      policy: fc.constantFrom("WATER_FILL", "EQUAL_SHARE", "GREEDY"),
      minRateKw: power,
      priceTierFactors: fuzzRecord({ ON_PEAK: fc.double({ min: -1, max: 2, noNaN: true }) }),
      deadbandKw: power,
      sessionTimeoutSeconds: fc.integer({ min: -5, max: 1_000_000 }),
      staleTimeoutSeconds: fc.integer({ min: -5, max: 1_000_000 }),
    }),
    rows: () => -1,
  },
  {
    name: "endSession",
    query: `mutation ($v: ID!) { r: endSession(sessionId: $v) { id } }`,
    table: "session_ends_raw",
    input: id,
    rows: () => 1,
  },
];

async function count(table: string): Promise<number> {
  const { rows } = await t.database.pool.query(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0].n;
}

for (const mutation of MUTATIONS) {
  test(`fuzz ${mutation.name}: no 500, all or nothing`, async () => {
    await fc.assert(
      fc.asyncProperty(mutation.input, async (value) => {
        const before = await count(mutation.table);
        const res = await fetch(t.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...bearer(TEST_KEYS.admin) },
          body: JSON.stringify({ query: mutation.query, variables: { v: value } }),
        });
        expect(res.status).toBeLessThan(500);
        const body = (await res.json()) as {
          data?: { r?: unknown } | null;
          errors?: { extensions?: { code?: string } }[];
        };
        for (const error of body.errors ?? []) expect(error.extensions?.code).not.toBe("INTERNAL_SERVER_ERROR");
        const after = await count(mutation.table);
        if (body.errors?.length) {
          if (mutation.rows(value) >= 0) expect(after).toBe(before);
        } else if (mutation.rows(value) >= 0) {
          expect(after).toBe(before + mutation.rows(value));
        }
      }),
      { numRuns: 60 },
    );
  }, 60_000);
}

test("NUL characters are bad input everywhere, in variables and in the document", async () => {
  for (const [query, variables] of [
    [`query ($id: ID!) { site(id: $id) { id } }`, { id: "a\u0000b" }],
    [`{ sessions(siteId: "x\\u0000") { id } }`, undefined],
    [`mutation ($v: SiteConfigInput!) { configureSite(input: $v) { id } }`, { v: { siteId: "\u0000" } }],
  ] as const) {
    const r = await t.gql(query, variables);
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  }
});
