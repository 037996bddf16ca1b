import {
  ALERT_STATUSES,
  ALERT_TYPES,
  ALLOCATION_POLICIES,
  CHARGING_RATE_UNITS,
  GRID_PHASES,
  OCPP_VERSIONS,
  PRICE_TIERS,
  PROFILE_PURPOSES,
  SETPOINT_LIMITS,
} from "../domain.js";
import { builder } from "../graphql/builder.js";

export const PriceTierEnum = builder.enumType("PriceTier", { values: PRICE_TIERS });
export const AlertStatusEnum = builder.enumType("AlertStatus", { values: ALERT_STATUSES });
export const AlertTypeEnum = builder.enumType("AlertType", { values: ALERT_TYPES });
export const AllocationPolicyEnum = builder.enumType("AllocationPolicy", { values: ALLOCATION_POLICIES });
export const SetpointLimitEnum = builder.enumType("SetpointLimit", {
  description: "What bound a setpoint: the answer to 'why is my car slow?'",
  values: SETPOINT_LIMITS,
});
export const GridPhaseEnum = builder.enumType("GridPhase", { values: GRID_PHASES });
export const OcppVersionEnum = builder.enumType("OcppVersion", {
  description: "V16: OCPP 1.6; V201: OCPP 2.0.1",
  values: OCPP_VERSIONS,
});
export const ChargingRateUnitEnum = builder.enumType("ChargingRateUnit", {
  description: "A: amps per phase (AC); W: watts (DC)",
  values: CHARGING_RATE_UNITS,
});
export const ProfilePurposeEnum = builder.enumType("ProfilePurpose", {
  description: "AUTO: TxProfile when a transaction id is known, else TxDefaultProfile; TX_DEFAULT_PROFILE: always",
  values: PROFILE_PURPOSES,
});
