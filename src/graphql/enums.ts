import { ALERT_STATUSES, ALERT_TYPES, ALLOCATION_POLICIES, PRICE_TIERS, SETPOINT_LIMITS } from "../domain.js";
import { builder } from "../graphql/builder.js";

export const PriceTierEnum = builder.enumType("PriceTier", { values: PRICE_TIERS });
export const AlertStatusEnum = builder.enumType("AlertStatus", { values: ALERT_STATUSES });
export const AlertTypeEnum = builder.enumType("AlertType", { values: ALERT_TYPES });
export const AllocationPolicyEnum = builder.enumType("AllocationPolicy", { values: ALLOCATION_POLICIES });
export const SetpointLimitEnum = builder.enumType("SetpointLimit", {
  description: "What bound a setpoint: the answer to 'why is my car slow?'",
  values: SETPOINT_LIMITS,
});
