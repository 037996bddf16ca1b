// No control: every charger lets its vehicle draw what it can (the plant starts chargers without
// a limit for this policy).
import type { Controller } from "./types.js";

export function uncontrolled(): Controller {
  return {
    policies: ["UNCONTROLLED"],
    start: async () => {},
    step: async () => {},
    stop: async () => {},
  };
}
