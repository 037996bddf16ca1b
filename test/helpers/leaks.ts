// Finding what a test file left open: sockets, servers, timers and child processes that keep the
// event loop alive (process.getActiveResourcesInfo(), which lists only ref'd resources, so
// unref'd timers do not count). Compared with a baseline taken before the file ran, so the test
// runner's own handles (its IPC channel, its timers) are never blamed.

/** The resource types that mean a service, pool, connection, timer or child was not stopped. */
export const WATCHED_RESOURCES: Readonly<Record<string, string>> = {
  TCPSocketWrap: "a TCP connection (a pool, client, consumer or WebSocket not closed)",
  TCPServerWrap: "a listening server (a service not stopped)",
  Timeout: "a ref'd timer or interval (not cleared)",
  ProcessWrap: "a child process (not killed or not awaited)",
};

function counts(resources: readonly string[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const r of resources) map.set(r, (map.get(r) ?? 0) + 1);
  return map;
}

/** The watched resources in `current` beyond `baseline`, as 'Type ×n: meaning' lines (empty: none). */
export function leakedResources(baseline: readonly string[], current: readonly string[]): string[] {
  const before = counts(baseline);
  const leaked: string[] = [];
  for (const [type, n] of counts(current)) {
    const meaning = WATCHED_RESOURCES[type];
    const extra = n - (before.get(type) ?? 0);
    if (meaning && extra > 0) leaked.push(`${type} ×${extra}: ${meaning}`);
  }
  return leaked;
}

export interface LeakCheckOptions {
  /** How long resources may take to close after the last afterAll (sockets close asynchronously). */
  graceMs?: number;
  /** Where the current resources come from (tests of this function). */
  resources?: () => readonly string[];
}

/** Waits up to graceMs for the leaked resources to go; returns those still there. */
export async function waitForLeaks(baseline: readonly string[], options: LeakCheckOptions = {}): Promise<string[]> {
  const { graceMs = 2000, resources = () => process.getActiveResourcesInfo() } = options;
  const deadline = Date.now() + graceMs;
  for (;;) {
    const leaked = leakedResources(baseline, resources());
    if (leaked.length === 0 || Date.now() >= deadline) return leaked;
    await new Promise<void>((resolve) => setTimeout(resolve, 50).unref());
  }
}
