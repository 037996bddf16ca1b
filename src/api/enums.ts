import { builder } from "../graphql/builder.js";

export const PriceTierEnum = builder.enumType("PriceTier", {
  values: ["OFF_PEAK", "MID_PEAK", "ON_PEAK", "CRITICAL_PEAK"] as const,
});
export const AlertStatusEnum = builder.enumType("AlertStatus", { values: ["ACTIVE", "CLEARED"] as const });
export const AlertTypeEnum = builder.enumType("AlertType", {
  values: [
    "SETPOINT_DEVIATION",
    "SITE_OVER_DEMAND",
    "CAPACITY_SHORTFALL",
    "STALE_SITE_DATA",
    "SITE_DATA_MISSING",
  ] as const,
});
export const AllocationPolicyEnum = builder.enumType("AllocationPolicy", {
  values: ["WATER_FILL", "EQUAL_SHARE"] as const,
});
export const SetpointLimitEnum = builder.enumType("SetpointLimit", {
  description: "What bound a setpoint: the answer to 'why is my car slow?'",
  values: ["RATED_POWER", "MIN_RATE", "NOT_ADMITTED", "PRICE_TIER", "DEMAND_RESPONSE", "SITE_LIMIT"] as const,
});
