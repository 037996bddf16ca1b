// The official OCA JSON schemas, as ocpp-rpc bundles them, with ocpp-rpc's own validator (the one
// its clients and servers use in strictMode), plus the interop rules the schemas cannot express
// (SPEC §11 "Known interop traps"). Every payload the service generates must pass both.
import { createRequire } from "node:module";
import { createValidator } from "ocpp-rpc";

const require = createRequire(import.meta.url);
const validators = {
  V16: createValidator("ocpp1.6", require("ocpp-rpc/lib/schemas/ocpp1_6.json")),
  V201: createValidator("ocpp2.0.1", require("ocpp-rpc/lib/schemas/ocpp2_0_1.json")),
} as const;

export type Version = keyof typeof validators;

/** Throws (ocpp-rpc's RPCError, naming the violation) unless the request is schema-valid. */
export function validateSchema(version: Version, request: unknown): void {
  validators[version].validate("urn:SetChargingProfile.req", request);
}

interface Period {
  startPeriod: number;
  limit: number;
  numberPhases?: number;
}
interface Schedule {
  startSchedule?: string;
  chargingRateUnit: string;
  chargingSchedulePeriod: Period[];
  minChargingRate?: number;
}
interface Profile {
  chargingProfilePurpose: string;
  chargingProfileKind: string;
  transactionId?: unknown;
  validTo?: string;
  chargingSchedule: Schedule | Schedule[];
}

/** The rules the schemas leave to the implementer; the list of what is wrong (empty: fine). */
export function interopProblems(version: Version, request: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const profile = (version === "V16" ? request.csChargingProfiles : request.chargingProfile) as Profile;
  const schedules = Array.isArray(profile.chargingSchedule) ? profile.chargingSchedule : [profile.chargingSchedule];
  const tenths = (x: number) => Math.abs(Math.round(x * 10) - x * 10) < 1e-9;
  if (profile.chargingProfilePurpose === "TxProfile" && profile.transactionId === undefined)
    problems.push("a TxProfile needs the transactionId");
  if (profile.chargingProfilePurpose !== "TxProfile" && profile.transactionId !== undefined)
    problems.push("only a TxProfile carries a transactionId");
  if (version === "V16" && profile.transactionId !== undefined && !Number.isInteger(profile.transactionId))
    problems.push("1.6 transactionId must be an integer");
  if (version === "V201" && profile.transactionId !== undefined && typeof profile.transactionId !== "string")
    problems.push("2.0.1 transactionId must be a string");
  for (const schedule of schedules) {
    if (profile.chargingProfileKind === "Absolute" && !schedule.startSchedule)
      problems.push("an Absolute profile needs startSchedule");
    if (schedule.chargingSchedulePeriod[0]?.startPeriod !== 0) problems.push("the first startPeriod must be 0");
    for (const period of schedule.chargingSchedulePeriod) {
      if (!tenths(period.limit)) problems.push(`limit ${period.limit} is not a multiple of 0.1`);
      if (period.limit < 0) problems.push(`limit ${period.limit} is negative`);
    }
    if (schedule.minChargingRate !== undefined && !tenths(schedule.minChargingRate))
      problems.push(`minChargingRate ${schedule.minChargingRate} is not a multiple of 0.1`);
  }
  if (profile.validTo !== undefined && schedules[0]?.startSchedule && profile.validTo <= schedules[0].startSchedule)
    problems.push("validTo must be after startSchedule");
  return problems;
}
