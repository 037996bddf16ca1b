import { readFile } from "node:fs/promises";
import { expect, test } from "vitest";
import { printSchemaSDL } from "../src/graphql/schema.js";

test("schema/schema.graphql is what the code prints (run npm run schema:print)", async () => {
  const committed = await readFile(new URL("../schema/schema.graphql", import.meta.url), "utf8");
  expect(committed).toBe(printSchemaSDL());
});

test("the SPEC §6 contract is present", () => {
  const sdl = printSchemaSDL();
  for (const field of [
    "site(id: ID!): Site",
    "sites: [Site!]!",
    "session(id: ID!): ChargingSession",
    // first/after were added later (additive: the SPEC arguments keep their names and defaults).
    "sessions(activeOnly: Boolean = true, after: String, first: Int, siteId: ID): [ChargingSession!]!",
    "setpoints(siteId: ID): [Setpoint!]!",
    "alerts(activeOnly: Boolean = true, after: String, first: Int, siteId: ID): [Alert!]!",
    "siteHistory(bucketSeconds: Int!, from: DateTime!, siteId: ID!, to: DateTime!): [SiteHistoryBucket!]!",
    "recordSessionSample(input: SessionSampleInput!): ChargingSession!",
    "recordSessionSamples(inputs: [SessionSampleInput!]!): IngestResult!",
    "endSession(endedAt: DateTime, sessionId: ID!): ChargingSession!",
    "recordSiteDemand(input: SiteDemandInput!): Site!",
    "publishPriceSignal(input: PriceSignalInput!): PriceSignal!",
    "dispatchDemandResponse(input: DemandResponseInput!): DemandResponseEvent!",
    "configureSite(input: SiteConfigInput!): Site!",
    "setpointChanged(after: String, siteId: ID): Setpoint!",
    "alertChanged(after: String, siteId: ID): Alert!",
  ]) {
    expect(sdl).toContain(field);
  }
});
