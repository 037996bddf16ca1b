// The service's policies on a trace, through its public interfaces only, as sim/controllers/
// service.ts does for generated days: one service site per (policy, capacity), all stepped
// together with setClock (frozen between steps). Each step, per site (concurrently): chargers end
// sessions (endSession) and send meter values (recordSessionSamples, with the departure and
// energy the driver's app would send, if the schema has those fields), then the site meter
// reports demand (recordSiteDemand); the commands come back over graphql-ws to the CPMS
// stand-in, which applies them after their delay. Steps where no site has a session, an arrival
// or a departure are not sent at all (nothing to decide), which keeps nights and empty days cheap.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CpmsStandIn, type ExpectedCommand } from "../cpms.js";
import { GraphQLHttp, MutationBatch } from "../gql.js";
import { startService } from "../service.js";
import { policyShort } from "../service-policies.js";
import type { TracePlant, TraceStepReport, TraceVehicle } from "./plant.js";

// The list lives in sim/service-policies.ts (shared with the generated day): one line there adds
// a policy to both. Traces carry no bids, so every session bids the reserve (the tariff price):
// BID_WEIGHTED then divides as WATER_FILL does.
export { SERVICE_POLICIES, type ServicePolicy } from "../service-policies.js";

export interface ServiceRunOptions {
  readonly databaseUrl?: string;
  /** Publish the tariff to the service (it then applies its price-tier factors). Default true. */
  readonly priceSignals?: boolean;
  readonly log?: (message: string) => void;
  readonly signal?: AbortSignal;
  readonly commandTimeoutMs?: number;
}

export interface ServiceRunStats {
  /** Which session fields the service's schema accepts (and so was told). */
  readonly informed: { readonly departureTs: boolean; readonly requestedEnergyKwh: boolean };
  readonly stepsSent: number;
  readonly startMs: number;
  readonly loopMs: number;
  readonly clockMs: number;
  readonly reportsMs: number;
  readonly settleMs: number;
  readonly commandsReceived: number;
}

interface SiteState {
  readonly setpoints: readonly { sessionId: string; commandedKw: number | null; commandedAt: string | null }[];
}

const SITE_SELECTION = "setpoints { sessionId commandedKw commandedAt }";
const PROBE_SITE = "sim-trace-probe";

export function serviceSiteId(plant: TracePlant): string {
  const capacity = Number.isFinite(plant.capacityKw) ? `${plant.capacityKw}kw` : "unlimited";
  return `trace-${capacity}-${policyShort(plant.policy)}`;
}

export async function runServicePolicies(
  plants: readonly TracePlant[],
  options: ServiceRunOptions = {},
): Promise<ServiceRunStats> {
  const log = options.log ?? (() => {});
  const first = plants[0];
  if (!first) throw new Error("no service plants");
  const world = first.world;
  const { stepS, steps, startMs } = world;
  const iso = (seconds: number) => new Date(startMs + seconds * 1000).toISOString();
  const started = performance.now();
  const service = await startService({ databaseUrl: options.databaseUrl });
  const cpms = await CpmsStandIn.connect(service.wsUrl, service.apiKey).catch(async (error: unknown) => {
    await service.stop();
    throw error;
  });
  const api = new GraphQLHttp(service.url, service.apiKey);
  const stats = { stepsSent: 0, clockMs: 0, reportsMs: 0, settleMs: 0 };
  try {
    const fields = await sessionSampleFields();
    const informed = { departureTs: fields.has("departureTs"), requestedEnergyKwh: fields.has("requestedEnergyKwh") };

    const setClock = async (atS: number) => {
      const t = performance.now();
      await new MutationBatch().add("setClock", { at: ["DateTime", iso(atS)], speed: ["Float", 0] }, "now").send(api);
      stats.clockMs += performance.now() - t;
    };
    const issuedAt = (site: SiteState, atS: number): ExpectedCommand[] => {
      const atMs = startMs + atS * 1000;
      return site.setpoints.flatMap((sp) =>
        sp.commandedKw !== null && sp.commandedAt !== null && Date.parse(sp.commandedAt) === atMs
          ? [{ sessionId: sp.sessionId, setpointKw: sp.commandedKw, commandedAtMs: atMs }]
          : [],
      );
    };
    const send = async (batches: readonly MutationBatch[], atS: number, timeoutMs = options.commandTimeoutMs) => {
      const t0 = performance.now();
      const results = await Promise.all(batches.map((b) => b.send(api)));
      const t1 = performance.now();
      const expected = results.flatMap((r) => issuedAt(r[r.length - 1] as SiteState, atS));
      await cpms.waitForCommands(expected, timeoutMs);
      stats.reportsMs += t1 - t0;
      stats.settleMs += performance.now() - t1;
    };
    const demand = (siteId: string, limitKw: number, buildingKw: number, evKw: number, atS: number) =>
      ({
        input: [
          "SiteDemandInput!",
          {
            siteId,
            demandLimitKw: limitKw,
            currentDemandKw: round3(buildingKw + evKw),
            evLoadKw: round3(evKw),
            measuredTs: iso(atS),
          },
        ],
      }) as const;

    // Set-up, a step before the first: sites, their policy, timeouts longer than a step, the tariff.
    const setupS = -stepS;
    await setClock(setupS);
    const timeoutS = Math.max(300, 3 * stepS);
    const setup = new MutationBatch();
    const indexById = new Map(world.sessions.map((s) => [s.id, s.index]));
    for (const plant of plants) {
      const siteId = serviceSiteId(plant);
      cpms.route(siteId, (command) => {
        const index = indexById.get(command.sessionId.slice(siteId.length + 1));
        if (index === undefined) return;
        plant.command(index, command.setpointKw, (Date.parse(command.commandedAt) - startMs) / 1000);
      });
      const config = { siteId, policy: plant.policy, sessionTimeoutSeconds: timeoutS, staleTimeoutSeconds: timeoutS };
      setup.add("configureSite", { input: ["SiteConfigInput!", config] }, "id");
      if (options.priceSignals ?? true) {
        for (const p of world.tariff) {
          const signal = {
            tariffId: "tou-day-ahead",
            siteId,
            priceUsdKwh: p.usdKwh,
            priceTier: p.tier,
            validFrom: new Date(p.fromMs).toISOString(),
            validTo: new Date(p.toMs).toISOString(),
          };
          setup.add("publishPriceSignal", { input: ["PriceSignalInput!", signal] }, "priceTier");
        }
      }
    }
    await setup.send(api);
    // Prove the subscription is live: a probe session gets a command, then leaves.
    for (let attempt = 0; ; attempt += 1) {
      const atS = setupS + attempt;
      const probe = {
        sessionId: `${PROBE_SITE}/probe`,
        chargePointId: `${PROBE_SITE}/CP`,
        connectorId: 1,
        siteId: PROBE_SITE,
        ratedPowerKw: 11,
        sessionStartTs: iso(setupS),
        sampledTs: iso(atS),
      };
      await setClock(atS);
      const batch = new MutationBatch()
        .add("recordSessionSamples", { inputs: ["[SessionSampleInput!]!", [probe]] }, "accepted")
        .add("recordSiteDemand", demand(PROBE_SITE, 10 - attempt, 0, 0, atS), SITE_SELECTION);
      const live = await send([batch], atS, 2_000).then(
        () => true,
        (error: unknown) => {
          if (attempt >= 4) throw error;
          return false;
        },
      );
      if (live) break;
    }
    await new MutationBatch().add("endSession", { sessionId: ["ID!", `${PROBE_SITE}/probe`] }, "id").send(api);
    const startMsTaken = performance.now() - started;

    const sample = (siteId: string, v: TraceVehicle, atS: number) => {
      const s = v.session;
      const input: Record<string, unknown> = {
        sessionId: `${siteId}/${s.id}`,
        chargePointId: `${siteId}/${s.stationId}`,
        connectorId: 1,
        siteId,
        ratedPowerKw: s.maxKw,
        currentPowerKw: round3(v.drawKw(world.battery === "curve")),
        energyKwh: round3(v.deliveredKwh),
        sessionStartTs: iso(s.arrivalStep * stepS),
        sampledTs: iso(atS),
      };
      // The service refuses a departure not after the session start (a requested departure within
      // the arrival's step lands on or before it on the grid) and a request above 1,000 kWh: an
      // app would not send those, and one such sample would fail the whole batch.
      if (informed.departureTs && s.informedDepartureStep !== null && s.informedDepartureStep > s.arrivalStep)
        input.departureTs = iso(s.informedDepartureStep * stepS);
      if (informed.requestedEnergyKwh && s.informedEnergyKwh !== null && s.informedEnergyKwh <= 1000)
        input.requestedEnergyKwh = s.informedEnergyKwh;
      return input;
    };
    const siteBatch = (plant: TracePlant, report: TraceStepReport): MutationBatch => {
      const siteId = serviceSiteId(plant);
      const batch = new MutationBatch();
      for (const v of report.ended) {
        const sessionId = `${siteId}/${v.session.id}`;
        batch.add("endSession", { sessionId: ["ID!", sessionId], endedAt: ["DateTime", iso(report.atS)] }, "id");
      }
      if (report.active.length > 0) {
        const samples = report.active.map((v) => sample(siteId, v, report.atS));
        batch.add("recordSessionSamples", { inputs: ["[SessionSampleInput!]!", samples] }, "accepted");
      }
      return batch.add(
        "recordSiteDemand",
        // The service takes limits up to 1 GW: "unlimited" is that.
        demand(siteId, Math.min(plant.capacityKw, 1_000_000), report.buildingKw, report.evLoadKw, report.atS),
        SITE_SELECTION,
      );
    };

    const loopStarted = performance.now();
    const stepsPerDay = 86_400 / stepS;
    for (let step = 0; step < steps; step += 1) {
      options.signal?.throwIfAborted();
      const reports = plants.map((plant) => ({ plant, report: plant.beginStep(step) }));
      const busy = reports.some(({ report }) => report.active.length > 0 || report.ended.length > 0);
      if (busy) {
        await setClock(step * stepS);
        await send(
          reports.map(({ plant, report }) => siteBatch(plant, report)),
          step * stepS,
        );
        stats.stepsSent += 1;
      }
      for (const plant of plants) plant.advance(step);
      if ((step + 1) % stepsPerDay === 0) {
        const day = (step + 1) / stepsPerDay;
        const seconds = (performance.now() - loopStarted) / 1000;
        log(`  service: day ${day}/${Math.ceil(steps / stepsPerDay)} (${seconds.toFixed(1)} s)`);
      }
    }
    const loopMs = performance.now() - loopStarted;
    await new MutationBatch().add("setClock", { at: ["DateTime", null], speed: ["Float", 1] }, "now").send(api);
    return { informed, startMs: startMsTaken, loopMs, commandsReceived: cpms.received, ...stats };
  } finally {
    await cpms.close().catch(() => {});
    await service.stop();
  }
}

/**
 * The fields of SessionSampleInput in the printed schema (introspection is off in production
 * mode, and the printed schema is the one the service builds: a test fails when it is stale).
 */
export async function sessionSampleFields(
  file = fileURLToPath(new URL("../../schema/schema.graphql", import.meta.url)),
): Promise<Set<string>> {
  const sdl = await readFile(file, "utf8");
  const block = /input SessionSampleInput \{([^}]*)\}/.exec(sdl)?.[1] ?? "";
  return new Set([...block.matchAll(/^\s*(\w+)\s*:/gm)].map((m) => m[1] ?? ""));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
