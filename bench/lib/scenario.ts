// What every scenario module exports and gets.
import type { BenchCluster } from "./cluster.js";

export interface Row {
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
}

export interface ScenarioOutcome {
  rows: Row[];
  /** Raw numbers for the JSON file. */
  data: Record<string, unknown>;
  /** Printed below the table (a profile, a plan). */
  details?: string;
  /** Set when the scenario could not run here (the table says why). */
  skipped?: string;
}

export interface ScenarioContext {
  readonly cluster: BenchCluster;
  readonly quick: boolean;
  /** Progress to stderr (the table goes to stdout). */
  log(message: string): void;
  /** Registers cleanup that must also run on failure or Ctrl-C (stopping a service, a child process). */
  onCleanup(fn: () => Promise<void> | void): () => void;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  /** Not part of a plain run; only with --only=<name>. */
  readonly optIn?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}
