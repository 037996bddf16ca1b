// Charge points (SPEC §9): the electrical model of a charger and how it is commanded over OCPP.
// A configured charge point's unset settings fall back to its site's defaults; the effective
// values are resolved in SQL (effective_charge_point, sql/035_electrical.sql), so the allocation,
// the OCPP requests and this API read one definition.
import type { ChargingRateUnit, OcppVersion, ProfilePurpose } from "../domain.js";
import type { Issue } from "../ingest/validate.js";

/** A charge point's settings as configured (null: the site's default). */
export interface ChargePointSettings {
  ocppVersion: OcppVersion | null;
  chargingRateUnit: ChargingRateUnit | null;
  phases: number | null;
  voltageV: number | null;
  minCurrentA: number | null;
  limitGranularity: number | null;
  stackLevel: number | null;
  profilePurpose: ProfilePurpose | null;
  failsafeSeconds: number | null;
}

/** A charge point with its effective settings (its own, else the site's). */
export interface ChargePoint {
  chargePointId: string;
  siteId: string;
  ocppVersion: OcppVersion;
  chargingRateUnit: ChargingRateUnit;
  phases: number;
  voltageV: number;
  minCurrentA: number;
  limitGranularity: number;
  stackLevel: number;
  profilePurpose: ProfilePurpose;
  failsafeSeconds: number;
  /** The least a session on it is commanded (minimum current x voltage x phases), kW; null in W. */
  minPowerKw: number | null;
}

/** One connector's failsafe TxDefaultProfile (SPEC §11 "Failsafe"). */
export interface FailsafeProfile {
  chargePointId: string;
  connectorId: number;
  ocppVersion: OcppVersion;
  chargingRateUnit: ChargingRateUnit;
  limit: number;
  limitKw: number;
  numberPhases: number;
  stackLevel: number;
  ocppRequest: Record<string, unknown>;
}

/** Multiples of 0.1 (the OCPP schema's multipleOf), with a margin for binary fractions. */
export function isMultipleOfTenth(value: number): boolean {
  return Math.abs(Math.round(value * 10) - value * 10) < 1e-6;
}

/** The electrical settings shared by configureChargePoint and configureSite (its defaults). */
export interface ElectricalSettingsInput {
  phases?: number | null;
  voltageV?: number | null;
  minCurrentA?: number | null;
  stackLevel?: number | null;
  failsafeSeconds?: number | null;
}

/** The problems of the electrical settings, each naming its field. */
export function checkElectricalSettings(input: ElectricalSettingsInput): Issue[] {
  const issues: Issue[] = [];
  const range = (field: string, value: number | null | undefined, min: number, max: number, integer = false) => {
    if (value === null || value === undefined) return;
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      issues.push({ field, message: `must be ${integer ? "an integer " : ""}between ${min} and ${max}, got ${value}` });
    }
  };
  range("phases", input.phases, 1, 3, true);
  range("voltageV", input.voltageV, 100, 1000);
  range("minCurrentA", input.minCurrentA, 0, 1000);
  if (
    typeof input.minCurrentA === "number" &&
    Number.isFinite(input.minCurrentA) &&
    !isMultipleOfTenth(input.minCurrentA)
  )
    issues.push({ field: "minCurrentA", message: `must be a multiple of 0.1 A, got ${input.minCurrentA}` });
  range("stackLevel", input.stackLevel, 1, 1000, true);
  range("failsafeSeconds", input.failsafeSeconds, 10, 604_800, true);
  return issues;
}

/** configureChargePoint's own checks: ids, the granularity, and the shared electrical settings. */
export function checkChargePointSettings(
  input: ElectricalSettingsInput & { chargePointId: string; siteId: string; limitGranularity?: number | null },
): Issue[] {
  const issues: Issue[] = [];
  for (const field of ["chargePointId", "siteId"] as const) {
    const value = String(input[field] ?? "");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: this pattern exists to find them
    if (value.length < 1 || value.length > 200 || value.trim() !== value || /[\u0000-\u001f\u007f]/.test(value))
      issues.push({ field, message: "must be 1-200 characters without surrounding spaces or control characters" });
  }
  issues.push(...checkElectricalSettings(input));
  const g = input.limitGranularity;
  if (g !== null && g !== undefined && (!Number.isFinite(g) || g <= 0 || g > 1000 || !isMultipleOfTenth(g)))
    issues.push({ field: "limitGranularity", message: `must be a positive multiple of 0.1 up to 1000, got ${g}` });
  return issues;
}
