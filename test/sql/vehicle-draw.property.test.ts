// VEHICLE_DRAW over random sites (fast-check): after each session has drawn a random share of its
// command for two meter values a minute apart, the sum of the setpoints is still at most C, a
// capped session is at most its draw plus the margin, and what the capped ones leave is handed to
// the others (nothing wasted) under every policy that passes capacity on.
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { at, demand, samples, setClock } from "../helpers/events.js";

let t: TestDatabase;
let siteCounter = 0;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

const caseArbitrary = fc.record({
  policy: fc.constantFrom("WATER_FILL", "EQUAL_SHARE", "BID_WEIGHTED", "DEADLINE"),
  limit: fc.integer({ min: 0, max: 300 }),
  sessions: fc.array(
    fc.record({
      rated: fc.constantFrom(3.7, 7.4, 11, 22, 50),
      // the share of its command the vehicle draws (1: all of it)
      drawShare: fc.constantFrom(1, 1, 0.95, 0.7, 0.4, 0.1, 0),
    }),
    { minLength: 1, maxLength: 12 },
  ),
});

interface Row {
  session_id: string;
  setpoint_kw: number;
  limited_by: string;
  rated_power_kw: number;
  draw_cap_kw: number | null;
  current_power_kw: number;
}

test("sum <= C; a capped session <= draw + margin; the freed capacity is reused", async () => {
  await fc.assert(
    fc.asyncProperty(caseArbitrary, async (c) => {
      siteCounter += 1;
      const site = `drawprop-${siteCounter}`;
      const base = at(siteCounter * 3600);
      const ids = c.sessions.map((_, i) => `${site}-${String(i).padStart(2, "0")}`);
      await t.pool.query("INSERT INTO sites (site_id, policy) VALUES ($1, $2)", [site, c.policy]);
      await setClock(t.pool, base);
      await demand(t.pool, site, { limit: c.limit, current: 0, ev: 0, ts: base });
      const send = async (offset: number, draws: number[]) => {
        await setClock(t.pool, at(offset, base));
        await samples(
          t.pool,
          c.sessions.map((spec, i) => ({
            session: ids[i] as string,
            site,
            rated: spec.rated,
            current: draws[i] ?? 0,
            start: base,
            ts: at(offset, base),
          })),
        );
      };
      await send(0, []);
      const { rows: commanded } = await t.pool.query<{ session_id: string; commanded_kw: number }>(
        "SELECT session_id, commanded_kw FROM setpoints WHERE site_id = $1",
        [site],
      );
      const command = new Map(commanded.map((r) => [r.session_id, r.commanded_kw]));
      const draws = c.sessions.map((spec, i) => (command.get(ids[i] as string) ?? 0) * spec.drawShare);
      await send(60, draws);
      await send(120, draws);

      const { rows: siteRows } = await t.pool.query("SELECT ev_cap_kw, target_kw FROM sites WHERE site_id = $1", [
        site,
      ]);
      const cap = siteRows[0].ev_cap_kw as number;
      const target = siteRows[0].target_kw as number;
      const { rows } = await t.pool.query<Row>(
        `SELECT sp.session_id, sp.setpoint_kw, sp.limited_by, s.rated_power_kw, s.draw_cap_kw, s.current_power_kw
         FROM setpoints sp JOIN sessions s USING (session_id) WHERE sp.site_id = $1`,
        [site],
      );
      const total = rows.reduce((sum, r) => sum + r.setpoint_kw, 0);
      expect(total).toBeLessThanOrEqual(cap + 1e-9);
      for (const r of rows) {
        const first = command.get(r.session_id) ?? 0;
        const margin = Math.max(1, 0.2 * first);
        const short = first > 0 && r.current_power_kw < first - margin;
        // Two short values a minute apart cap it at draw + margin (of its command); else no cap.
        if (short) expect(r.draw_cap_kw).toBeCloseTo(r.current_power_kw + margin, 6);
        else expect(r.draw_cap_kw).toBeNull();
        if (r.draw_cap_kw !== null) {
          expect(r.setpoint_kw).toBeLessThanOrEqual(r.draw_cap_kw + 1e-9);
          if (r.setpoint_kw >= r.draw_cap_kw - 0.01 && r.draw_cap_kw < r.rated_power_kw)
            expect(r.limited_by).toBe("VEHICLE_DRAW");
        }
      }
      if (c.policy !== "EQUAL_SHARE") {
        // Nothing wasted: unless every admitted session is at its bound (rated power or cap), the
        // site hands out its whole target.
        const admitted = rows.filter((r) => r.limited_by !== "NOT_ADMITTED");
        const bound = (r: Row) => Math.min(r.rated_power_kw, r.draw_cap_kw ?? Number.POSITIVE_INFINITY);
        if (admitted.some((r) => r.setpoint_kw < bound(r) - 0.01))
          expect(total).toBeGreaterThanOrEqual(target - 0.01 * admitted.length - 1e-6);
      }
    }),
    { numRuns: 60 },
  );
}, 300_000);
