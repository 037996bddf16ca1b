// The cost of the OCPP requests on ingest (docs/ocpp.md), in one run on one database: rounds of
// batch-1,000 ingest (1,000 sites x 20 sessions, ~75 % of the setpoints move each round)
// alternate between the real ocpp_command() and a stub that returns NULLs (no request built),
// so load changes on the machine hit both arms alike. Then every charge point is configured in
// amps (minimum current, rounding in A, the request in A) for the same rounds, against the
// unconfigured (W) arm. Opt-in: `npm run bench -- --quick --only=ocpp`.
import { roundSamples } from "../lib/data.js";
import { type BatchRun, mergeRuns, runBatches, verifySetpoints, withSeededFleet } from "../lib/fleet.js";
import type { Row, Scenario } from "../lib/scenario.js";
import { fmtNum } from "../lib/stats.js";
import { batchRows, throughput } from "./ingest.js";

const STUB = `CREATE OR REPLACE FUNCTION ocpp_command(p_session_id text, p_charge_point_id text, p_connector_id integer,
  p_site_id text, p_setpoint_kw numeric, p_limit numeric, p_at timestamptz)
RETURNS TABLE (ocpp_version text, ocpp_request jsonb)
LANGUAGE sql STABLE AS $$ SELECT NULL::text, NULL::jsonb $$`;

export const ocppScenario: Scenario = {
  name: "ocpp",
  title: "OCPP requests: ingest with and without them, in W and in A",
  optIn: true,
  run(ctx) {
    return withSeededFleet(ctx, "ocpp", async (database, fleet) => {
      const { rows: def } = await database.pool.query<{ def: string }>(
        "SELECT pg_get_functiondef('ocpp_command'::regproc) AS def",
      );
      const original = def[0]?.def ?? "";
      const pairs = ctx.quick ? 2 : 4;
      let round = 1;
      const on: BatchRun[] = [];
      const off: BatchRun[] = [];
      const amps: BatchRun[] = [];
      const watts: BatchRun[] = [];
      try {
        for (let r = 0; r < pairs; r++) {
          for (const arm of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
            await database.pool.query(arm === "off" ? STUB : original);
            ctx.log(`ocpp: round ${r + 1}/${pairs}, requests ${arm}`);
            (arm === "off" ? off : on).push(await runBatches(database.db, roundSamples(fleet, round++), 1000));
          }
        }
      } finally {
        await database.pool.query(original);
      }
      // Configured in A vs not configured (W), alternating: configure, a round, unconfigure, a round.
      for (let r = 0; r < pairs; r++) {
        for (const arm of r % 2 === 0 ? ["W", "A"] : ["A", "W"]) {
          if (arm === "A")
            await database.pool.query(
              "INSERT INTO charge_points (charge_point_id, site_id) SELECT DISTINCT charge_point_id, site_id FROM sessions ON CONFLICT DO NOTHING",
            );
          else await database.pool.query("DELETE FROM charge_points");
          ctx.log(`ocpp: round ${r + 1}/${pairs}, charge points in ${arm}`);
          (arm === "A" ? amps : watts).push(await runBatches(database.db, roundSamples(fleet, round++), 1000));
        }
      }
      const check = await verifySetpoints(database.pool, ["site-000000", "site-000500", "site-000999"]);
      const ratio = (a: BatchRun[], b: BatchRun[]) =>
        `${fmtNum(throughput(mergeRuns(a)) / throughput(mergeRuns(b)), 2)}x`;
      const rows: Row[] = [];
      const [onTp, onLat] = batchRows("batch 1,000, requests built", mergeRuns(on));
      const [offTp] = batchRows("batch 1,000, no requests (stub)", mergeRuns(off));
      if (onTp && offTp && onLat) rows.push({ ...onTp, baseline: offTp.value, ratio: ratio(on, off) }, onLat, offTp);
      const [aTp, aLat] = batchRows("batch 1,000, every charge point in A", mergeRuns(amps));
      const [wTp] = batchRows("batch 1,000, charge points not configured (W)", mergeRuns(watts));
      if (aTp && wTp && aLat) rows.push({ ...aTp, baseline: wTp.value, ratio: ratio(amps, watts) }, aLat, wTp);
      rows.push({ metric: "setpoints current", value: check.ok ? "ok" : "MISMATCH" });
      return {
        rows,
        data: {
          on: throughput(mergeRuns(on)),
          off: throughput(mergeRuns(off)),
          amps: throughput(mergeRuns(amps)),
          watts: throughput(mergeRuns(watts)),
          verification: check,
        },
      };
    });
  },
};
