// The service's allocation policies the simulator runs, in one place: the generated day
// (sim/simulate.ts, sim/controllers/service.ts) and the trace replay (sim/trace/service-driver.ts)
// both take their list from here, as do the tables and charts. A new service policy is one line
// below.

export interface ServicePolicySpec {
  /** The AllocationPolicy value sent to configureSite. */
  readonly policy: string;
  /** Suffix of the service site ids (`site-2-wf`, `trace-20kw-wf`). */
  readonly short: string;
  /** Line colour in the charts. */
  readonly color: string;
}

export const SERVICE_POLICY_SPECS = [
  { policy: "EQUAL_SHARE", short: "eq", color: "#1f77b4" },
  { policy: "WATER_FILL", short: "wf", color: "#2ca02c" },
  { policy: "BID_WEIGHTED", short: "bid", color: "#17becf" },
  { policy: "DEADLINE", short: "dl", color: "#ff7f0e" },
] as const satisfies readonly ServicePolicySpec[];

export type ServicePolicy = (typeof SERVICE_POLICY_SPECS)[number]["policy"];
export const SERVICE_POLICIES: readonly ServicePolicy[] = SERVICE_POLICY_SPECS.map((s) => s.policy);

const byPolicy = new Map<string, ServicePolicySpec>(SERVICE_POLICY_SPECS.map((s) => [s.policy, s]));

export function isServicePolicy(policy: string): policy is ServicePolicy {
  return byPolicy.has(policy);
}

/** The site-id suffix of a policy (its lower-case name when it is not a service policy). */
export function policyShort(policy: string): string {
  return byPolicy.get(policy)?.short ?? policy.toLowerCase();
}

export function servicePolicyColor(policy: string): string | undefined {
  return byPolicy.get(policy)?.color;
}
