// The policy seam of SPEC §3 rule 7 (sql/030_policies.sql): one function per policy, called by
// session_allocation with no default, so a policy without a function fails loudly.
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { demand, samples, setClock, setpointsOf, T0 } from "../helpers/events.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await setClock(t.pool, T0);
});
afterAll(async () => {
  await t.drop();
});

const kw = (values: (string | number)[]) => values.map(Number);

test("allocate_water_fill: a session capped by its rated power releases the rest to the others", async () => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_water_fill(30, ARRAY[3, 3, 3]::numeric[], ARRAY[7, 22, 22]::numeric[]) AS kw",
  );
  expect(kw(rows[0]?.kw ?? [])).toEqual([7, 11.5, 11.5]);
});

test("allocate_water_fill: more than they can take puts everyone at rated power", async () => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_water_fill(100, ARRAY[3, 3]::numeric[], ARRAY[7, 11]::numeric[]) AS kw",
  );
  expect(kw(rows[0]?.kw ?? [])).toEqual([7, 11]);
});

test("allocate_equal_share: amount / n, clamped to each session's bounds", async () => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_equal_share(30, ARRAY[3, 3, 3]::numeric[], ARRAY[7, 22, 22]::numeric[]) AS kw",
  );
  expect(kw(rows[0]?.kw ?? [])).toEqual([7, 10, 10]);
});

test("a site whose policy has no function fails, naming the policy and the site", async () => {
  const site = "policy-unknown";
  await demand(t.pool, site, { limit: 100, current: 20, ev: 0 });
  await samples(t.pool, [{ session: `${site}-a`, site, rated: 11 }]);
  expect((await setpointsOf(t.pool, site))[`${site}-a`]).toMatchObject({ setpoint_kw: 11 });

  const client = await t.pool.connect();
  try {
    await client.query("BEGIN");
    // The CHECK keeps unknown values out; without it the allocation itself must refuse.
    await client.query("ALTER TABLE sites DROP CONSTRAINT sites_policy_values");
    await expect(client.query("UPDATE sites SET policy = 'ROUND_ROBIN' WHERE site_id = $1", [site])).rejects.toThrow(
      /unknown allocation policy ROUND_ROBIN at site policy-unknown/,
    );
    await client.query("ROLLBACK");
    await client.query("BEGIN");
    await client.query("ALTER TABLE sites DROP CONSTRAINT sites_policy_values");
    await client.query("ALTER TABLE sites DISABLE TRIGGER site_settings_changed");
    await client.query("UPDATE sites SET policy = 'ROUND_ROBIN' WHERE site_id = $1", [site]);
    await expect(client.query("SELECT * FROM session_allocation(ARRAY[$1], app_now())", [site])).rejects.toThrow(
      /unknown allocation policy ROUND_ROBIN at site policy-unknown/,
    );
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
  // Nothing of it stayed: the CHECK is back and the setpoint unchanged.
  await expect(t.pool.query("UPDATE sites SET policy = 'ROUND_ROBIN' WHERE site_id = $1", [site])).rejects.toThrow(
    /sites_policy_values/,
  );
  expect((await setpointsOf(t.pool, site))[`${site}-a`]).toMatchObject({ setpoint_kw: 11 });
});

const bidWeighted = async (amount: number, lo: number[], hi: number[], bid: number[]) => {
  const { rows } = await t.pool.query<{ kw: string[] }>(
    "SELECT allocate_bid_weighted($1, $2::numeric[], $3::numeric[], $4::numeric[]) AS kw",
    [amount, lo, hi, bid],
  );
  return kw(rows[0]?.kw ?? []);
};
const close = (values: number[], expected: number[]) => {
  expect(values).toHaveLength(expected.length);
  for (const [i, v] of values.entries()) expect(v).toBeCloseTo(expected[i] ?? Number.NaN, 9);
};

test("allocate_bid_weighted: with no bound binding, the amount is divided in proportion to the bids", async () => {
  close(await bidWeighted(40, [3, 3], [100, 100], [1, 3]), [10, 30]);
  close(await bidWeighted(40, [0, 0], [100, 100], [0.1, 0.3]), [10, 30]);
});

test("allocate_bid_weighted: a session at its rated power releases the rest to the others, by their bids", async () => {
  // 2L would be 20: capped at 5, the other two share 25 equally.
  close(await bidWeighted(30, [3, 3, 3], [5, 22, 22], [2, 1, 1]), [5, 12.5, 12.5]);
  // The 1:3 split of 40 would give 30 to a 22 kW session: it takes 22, the other 18.
  close(await bidWeighted(40, [3, 3], [22, 22], [1, 3]), [18, 22]);
});

test("allocate_bid_weighted: a low bid is held up at its minimum and the others share the rest", async () => {
  // 0.1 * L would be 1.7 < 3: held at 3, the other takes 17.
  close(await bidWeighted(20, [3, 3], [22, 22], [0.1, 1]), [3, 17]);
});

test("allocate_bid_weighted: a bid of 0 gets its minimum, and only what the bidders cannot take", async () => {
  close(await bidWeighted(20, [3, 3], [22, 22], [0, 1]), [3, 17]);
  // The bidder is at its rated power: the rest goes to the zero bid, nothing is wasted.
  close(await bidWeighted(40, [3, 3, 3], [22, 10, 22], [0, 1, 0]), [15, 10, 15]);
});

test("allocate_bid_weighted: equal bids, or no bid above 0, are WATER_FILL; more than they can take is all at hi", async () => {
  close(await bidWeighted(30, [3, 3, 3], [7, 22, 22], [0.3, 0.3, 0.3]), [7, 11.5, 11.5]);
  close(await bidWeighted(30, [3, 3, 3], [7, 22, 22], [0, 0, 0]), [7, 11.5, 11.5]);
  close(await bidWeighted(100, [3, 3], [7, 11], [1, 5]), [7, 11]);
  // Rated below the minimum (lo = hi) and an amount of exactly the minimums.
  close(await bidWeighted(6, [3, 1], [22, 1], [1, 2]), [5, 1]);
  close(await bidWeighted(4, [3, 1], [22, 1], [1, 2]), [3, 1]);
});

test("allocate_bid_weighted: sum = min(amount, sum hi), lo <= kW <= hi, proportional where unclamped (random)", async () => {
  const session = fc
    .record({
      lo: fc.integer({ min: 0, max: 2000 }),
      span: fc.integer({ min: 0, max: 30000 }),
      bid: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10000 })),
    })
    .map(({ lo, span, bid }) => ({ lo: lo / 100, hi: (lo + span) / 100, bid: bid / 10000 }));
  await fc.assert(
    fc.asyncProperty(
      fc.array(session, { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      async (sessions, extra) => {
        const lo = sessions.map((s) => s.lo);
        const hi = sessions.map((s) => s.hi);
        const bid = sessions.map((s) => s.bid);
        const sumLo = lo.reduce((a, b) => a + b, 0);
        const sumHi = hi.reduce((a, b) => a + b, 0);
        const amount = sumLo + extra / 100;
        const out = await bidWeighted(amount, lo, hi, bid);
        expect(out).toHaveLength(sessions.length);
        const total = out.reduce((a, b) => a + b, 0);
        expect(total).toBeCloseTo(Math.min(amount, sumHi), 6);
        const tol = 1e-9;
        sessions.forEach((s, i) => {
          expect(out[i]).toBeGreaterThanOrEqual(s.lo - tol);
          expect(out[i]).toBeLessThanOrEqual(s.hi + tol);
        });
        // One level L: every unclamped bidder is at bid * L; one at lo would not get more at L,
        // one at hi would take more.
        const free = sessions.flatMap((s, i) => {
          const x = out[i] ?? 0;
          return s.bid > 0 && x > s.lo + 1e-7 && x < s.hi - 1e-7 ? [x / s.bid] : [];
        });
        if (free.length > 0) {
          const level = free[0] ?? 0;
          for (const l of free) expect(l).toBeCloseTo(level, 6);
          sessions.forEach((s, i) => {
            if (s.bid === 0 || s.lo === s.hi) return;
            if ((out[i] ?? 0) <= s.lo + 1e-7) expect(s.bid * level).toBeLessThanOrEqual(s.lo + 1e-6);
            if ((out[i] ?? 0) >= s.hi - 1e-7) expect(s.bid * level).toBeGreaterThanOrEqual(s.hi - 1e-6);
          });
          // While a bidder can take more, the zero bids stay at their minimum.
          sessions.forEach((s, i) => {
            if (s.bid === 0) expect(out[i]).toBeCloseTo(s.lo, 9);
          });
        }
      },
    ),
    { numRuns: 200 },
  );
}, 120_000);
