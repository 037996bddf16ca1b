// Timestamps: calendar-impossible dates and times are refused, not rolled over (security issue 11).
import { describe, expect, test } from "vitest";
import { INPUT_STREAMS } from "../../src/ingest/streams.js";
import { parseTimestamp } from "../../src/ingest/validate.js";

describe("parseTimestamp", () => {
  test.each([
    "2026-02-30T00:00:00Z",
    "2026-02-29T00:00:00Z", // 2026 is not a leap year
    "2026-04-31T12:00:00+02:00",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-05-00T00:00:00Z",
    "2026-05-01T24:00:00Z",
    "2026-05-01T12:60:00Z",
    "2026-05-01T12:00:60Z",
    "2026-05-01T12:00:00+24:00",
    "2026-05-01T12:00:00",
    "2026-05-01",
  ])("refuses %s", (text) => {
    expect(parseTimestamp(text)).toBeNull();
  });

  test.each([
    ["2028-02-29T00:00:00Z", "2028-02-29T00:00:00.000Z"],
    ["2026-05-01T12:00:00+02:00", "2026-05-01T10:00:00.000Z"],
    ["2026-05-01T12:00Z", "2026-05-01T12:00:00.000Z"],
    ["2026-12-31T23:59:59.999-0530", "2027-01-01T05:29:59.999Z"],
  ])("reads %s", (text, iso) => {
    expect(parseTimestamp(text)?.toISOString()).toBe(iso);
  });
});

test("a session sample with an impossible date names the field and stores nothing", () => {
  const checked = INPUT_STREAMS.sessionSamples.check(
    {
      sessionId: "s1",
      chargePointId: "cp1",
      connectorId: 1,
      siteId: "site-a",
      ratedPowerKw: 11,
      sessionStartTs: "2026-02-30T00:00:00Z",
      sampledTs: "2026-03-02T00:00:00Z",
    },
    Date.parse("2026-03-02T00:00:00Z"),
  );
  expect(checked.ok).toBe(false);
  if (!checked.ok) expect(checked.issues.map((i) => i.field)).toEqual(["sessionStartTs"]);
});
