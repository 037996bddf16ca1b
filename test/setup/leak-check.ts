// Fails a test file that leaves a service, pool, socket, timer or child process open (vitest
// setupFiles: runs in each test file's worker before the file; this afterAll, registered first,
// runs after the file's own afterAll hooks).
import { afterAll } from "vitest";
import { waitForLeaks } from "../helpers/leaks.js";

const baseline = process.getActiveResourcesInfo();

afterAll(async () => {
  const leaked = await waitForLeaks(baseline, { graceMs: 3000 });
  if (leaked.length > 0) {
    throw new Error(`this test file left open (still there 3 s after its last afterAll):\n  ${leaked.join("\n  ")}`);
  }
});
