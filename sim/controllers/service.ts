// The service as the controller, driven only through its public interfaces: the simulated day is
// stepped with setClock (frozen between steps), chargers end sessions (endSession) and send meter
// values (recordSessionSamples), the building management system reports site demand
// (recordSiteDemand), the tariff feed publishes the TOU schedule (publishPriceSignal), the utility
// dispatches its DR event (dispatchDemandResponse); setpoint commands come back over graphql-ws to
// the CPMS stand-in, which applies them to the chargers after their delay.
//
// Knowing when a step's commands are all in: each site's last mutation of the step returns the
// site's setpoints with their last command (commandedKw, commandedAt). Those issued at this step
// are what the CPMS must have received; as the stream keeps commit order, earlier ones are in too.
import type { CpmsStandIn, ExpectedCommand } from "../cpms.js";
import { type GraphQLHttp, MutationBatch } from "../gql.js";
import type { Policy } from "../metrics.js";
import { isoAt, type SimTime } from "../model/clock.js";
import type { Vehicle } from "../model/physics.js";
import type { SitePlant, StepReport } from "../plant.js";
import { policyShort, SERVICE_POLICIES } from "../service-policies.js";
import type { Controller, PlantReport } from "./types.js";

/** A one-session site used once, before the day starts, to prove the subscription is live. */
const PROBE_SITE = "sim-probe";
const PROBE_SESSION = `${PROBE_SITE}/probe`;

export function serviceSiteId(plant: SitePlant): string {
  return `${plant.site.id}-${policyShort(plant.policy)}`;
}

/** The service refuses a request above this (and one bad sample fails the whole batch). */
const MAX_REQUESTED_KWH = 1000;

export interface ServiceStats {
  steps: number;
  /** Real time in setClock, ms. */
  clockMs: number;
  /** Real time in the sites' mutations (sent concurrently), ms. */
  reportsMs: number;
  /** Real time waiting for the step's commands after the mutations returned, ms. */
  settleMs: number;
}

export interface ServiceControllerOptions {
  readonly api: GraphQLHttp;
  readonly cpms: CpmsStandIn;
  readonly time: SimTime;
  readonly policies?: readonly Policy[];
  readonly commandTimeoutMs?: number;
}

interface SiteState {
  readonly setpoints: readonly { sessionId: string; commandedKw: number | null; commandedAt: string | null }[];
}

const SITE_SELECTION = "setpoints { sessionId commandedKw commandedAt }";

export function serviceController(options: ServiceControllerOptions): Controller & { readonly stats: ServiceStats } {
  const { api, cpms, time } = options;
  const iso = (seconds: number) => isoAt(time, seconds);
  const stats: ServiceStats = { steps: 0, clockMs: 0, reportsMs: 0, settleMs: 0 };

  /**
   * A charger's meter value, with what the driver's app tells: departure (when it is within the
   * day; always after the session start, a step at least), requested energy and bid, only when
   * the service would accept them.
   */
  function sample(siteId: string, v: Vehicle, atS: number) {
    const { departureS, requestedKwh, bidUsdKwh, arrivalS } = v.spec;
    return {
      sessionId: `${siteId}/${v.spec.sessionId}`,
      chargePointId: `${siteId}/${v.spec.chargePointId}`,
      connectorId: 1,
      siteId,
      idTag: v.spec.idTag,
      ratedPowerKw: v.spec.ratedKw,
      currentPowerKw: round3(v.drawKw()),
      socPct: round3(v.socPct),
      energyKwh: round3(v.deliveredKwh),
      sessionStartTs: iso(arrivalS),
      sampledTs: iso(atS),
      ...(departureS !== null && departureS > arrivalS ? { departureTs: iso(departureS) } : {}),
      ...(requestedKwh >= 0 && requestedKwh <= MAX_REQUESTED_KWH ? { requestedEnergyKwh: requestedKwh } : {}),
      ...(bidUsdKwh !== null && bidUsdKwh >= 0 && bidUsdKwh <= 100 ? { bidUsdKwh } : {}),
    };
  }

  function demand(siteId: string, limitKw: number, buildingKw: number, evKw: number, atS: number) {
    const input = {
      siteId,
      demandLimitKw: limitKw,
      currentDemandKw: round3(buildingKw + evKw),
      evLoadKw: round3(evKw),
      measuredTs: iso(atS),
    };
    return { input: ["SiteDemandInput!", input] } as const;
  }

  /** The commands a site's last mutation says were issued at `atS`. */
  function issuedAt(site: SiteState, atS: number): ExpectedCommand[] {
    const atMs = time.dayStartMs + atS * 1000;
    return site.setpoints.flatMap((sp) =>
      sp.commandedKw !== null && sp.commandedAt !== null && Date.parse(sp.commandedAt) === atMs
        ? [{ sessionId: sp.sessionId, setpointKw: sp.commandedKw, commandedAtMs: atMs }]
        : [],
    );
  }

  /** A site's step: chargers end sessions and send meter values, then the BEMS reports demand. */
  function siteBatch(siteId: string, plant: SitePlant, report: StepReport, atS: number): MutationBatch {
    const batch = new MutationBatch();
    for (const v of report.ended) {
      const sessionId = `${siteId}/${v.spec.sessionId}`;
      batch.add("endSession", { sessionId: ["ID!", sessionId], endedAt: ["DateTime", iso(atS)] }, "id");
    }
    if (report.sampled.length > 0) {
      const samples = report.sampled.map((v) => sample(siteId, v, atS));
      batch.add("recordSessionSamples", { inputs: ["[SessionSampleInput!]!", samples] }, "accepted");
    }
    const dr = plant.site.dr;
    if (dr.signalS === atS) {
      const event = {
        drEventId: dr.id,
        siteId,
        curtailmentPct: dr.curtailmentPct,
        baselineKw: dr.baselineKw,
        eventStartTs: iso(dr.startS),
        eventEndTs: iso(dr.endS),
        signalTs: iso(atS),
      };
      batch.add("dispatchDemandResponse", { input: ["DemandResponseInput!", event] }, "drEventId");
    }
    // Last: its answer lists the step's commands.
    const { buildingKw, evLoadKw, demandLimitKw } = report;
    return batch.add("recordSiteDemand", demand(siteId, demandLimitKw, buildingKw, evLoadKw, atS), SITE_SELECTION);
  }

  async function setClock(atS: number): Promise<void> {
    const t = performance.now();
    await new MutationBatch().add("setClock", { at: ["DateTime", iso(atS)], speed: ["Float", 0] }, "now").send(api);
    stats.clockMs += performance.now() - t;
  }

  /** Sends the sites' batches concurrently (they share nothing); waits for their commands. */
  async function report(
    batches: readonly MutationBatch[],
    atS: number,
    timeoutMs = options.commandTimeoutMs,
  ): Promise<void> {
    const t0 = performance.now();
    const results = await Promise.all(batches.map((b) => b.send(api)));
    const t1 = performance.now();
    const expected = results.flatMap((fields) => issuedAt(fields[fields.length - 1] as SiteState, atS));
    await cpms.waitForCommands(expected, timeoutMs);
    stats.reportsMs += t1 - t0;
    stats.settleMs += performance.now() - t1;
  }

  return {
    policies: options.policies ?? SERVICE_POLICIES,
    stats,

    async start(plants) {
      const setupS = -time.stepS;
      await setClock(setupS);
      const setup = new MutationBatch();
      for (const plant of plants) {
        const siteId = serviceSiteId(plant);
        cpms.route(siteId, (command) => {
          const sessionId = command.sessionId.slice(siteId.length + 1);
          const issuedAtS = (Date.parse(command.commandedAt) - time.dayStartMs) / 1000;
          plant.command(sessionId, command.setpointKw, issuedAtS);
        });
        setup.add("configureSite", { input: ["SiteConfigInput!", { siteId, policy: plant.policy }] }, "id");
        // The day-ahead TOU schedule.
        for (const p of plant.site.tariff) {
          const signal = {
            tariffId: "tou-day-ahead",
            siteId,
            priceUsdKwh: p.usdKwh,
            priceTier: p.tier,
            validFrom: iso(p.fromS),
            validTo: iso(p.toS),
          };
          setup.add("publishPriceSignal", { input: ["PriceSignalInput!", signal] }, "priceTier");
        }
      }
      await setup.send(api);
      // Prove the subscription is live: a probe session gets a command (again with a lower limit
      // while the subscription may still be registering), then leaves.
      for (let attempt = 0; ; attempt += 1) {
        const probeSample = {
          sessionId: PROBE_SESSION,
          chargePointId: `${PROBE_SITE}/CP-01`,
          connectorId: 1,
          siteId: PROBE_SITE,
          ratedPowerKw: 11,
          sessionStartTs: iso(setupS),
          sampledTs: iso(setupS),
        };
        const probeAtS = setupS + attempt;
        const probe = new MutationBatch()
          .add("recordSessionSamples", { inputs: ["[SessionSampleInput!]!", [probeSample]] }, "accepted")
          .add("recordSiteDemand", demand(PROBE_SITE, 10 - attempt, 0, 0, probeAtS), SITE_SELECTION);
        await setClock(probeAtS);
        const live = await report([probe], probeAtS, 2_000).then(
          () => true,
          (error: unknown) => {
            if (attempt >= 4) throw error;
            return false;
          },
        );
        if (live) break;
      }
      await new MutationBatch().add("endSession", { sessionId: ["ID!", PROBE_SESSION] }, "id").send(api);
    },

    async step(atS, reports: readonly PlantReport[]) {
      await setClock(atS);
      await report(
        reports.map(({ plant, report }) => siteBatch(serviceSiteId(plant), plant, report, atS)),
        atS,
      );
      stats.steps += 1;
    },

    async stop() {
      // Back to real time, so the service's scheduler is not left on a frozen clock.
      await new MutationBatch().add("setClock", { at: ["DateTime", null], speed: ["Float", 1] }, "now").send(api);
    },
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
