// Validated records for the storage tests, stored through the ingest repository (the batch insert
// GraphQL and the Kafka consumer use).
import type { SessionSample, SiteDemand } from "../../src/ingest/validate.js";

export function sessionSample(sessionId: string, siteId: string, ts: Date, ratedPowerKw = 11): SessionSample {
  return {
    sessionId,
    chargePointId: `cp-${sessionId}`,
    connectorId: 1,
    siteId,
    idTag: null,
    ratedPowerKw,
    currentPowerKw: ratedPowerKw / 2,
    socPct: 50,
    energyKwh: 5,
    sessionStartTs: new Date(Date.UTC(2020, 0, 1)),
    sampledTs: ts,
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
  };
}

export function siteDemand(siteId: string, ts: Date, currentDemandKw = 40): SiteDemand {
  return { siteId, demandLimitKw: 100, currentDemandKw, evLoadKw: 10, measuredTs: ts, phaseCurrentsA: null };
}
