// A V8 CPU profile of this process (node:inspector), summarised as self time per function and
// per package, to say where the service's main thread spends a stretch of work.
import { Session } from "node:inspector/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface CpuSummary {
  wallMs: number;
  busyMs: number;
  byPackage: { name: string; ms: number }[];
  topFunctions: { name: string; where: string; ms: number }[];
}

function where(url: string): string {
  if (!url) return "(native / VM)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1] as string;
  if (url.startsWith("node:")) return "node core";
  const src = /\/(src|bench)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  return url.slice(-60);
}

export async function profileCpu<T>(work: () => Promise<T>): Promise<{ result: T; summary: CpuSummary }> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
    const result = await work();
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: Profile };
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    /** A native function (no url) is charged to the nearest JavaScript caller's package. */
    const callerUrl = (id: number): string => {
      let current = parent.get(id);
      while (current !== undefined) {
        const url = byId.get(current)?.callFrame.url;
        if (url) return url;
        current = parent.get(current);
      }
      return "";
    };
    const selfUs = new Map<number, number>();
    profile.samples.forEach((id, i) => {
      selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
    const byPackage = new Map<string, number>();
    const byFunction = new Map<string, { name: string; where: string; us: number }>();
    let busyUs = 0;
    for (const [id, us] of selfUs) {
      const node = byId.get(id);
      if (!node) continue;
      const fn = node.callFrame.functionName || "(anonymous)";
      if (fn === "(idle)" || fn === "(program)") continue;
      // The profiler's own Profiler.stop (serialising the profile) falls inside the window.
      if (fn === "dispatch" && /node:inspector/.test(callerUrl(id))) continue;
      busyUs += us;
      const native = !node.callFrame.url;
      const pkg =
        fn === "(garbage collector)"
          ? "(garbage collector)"
          : native
            ? `${where(callerUrl(id))} (native)`
            : where(node.callFrame.url);
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
      const key = `${fn}@${node.callFrame.url}:${node.callFrame.lineNumber}`;
      const entry = byFunction.get(key) ?? { name: fn, where: `${pkg}:${node.callFrame.lineNumber + 1}`, us: 0 };
      entry.us += us;
      byFunction.set(key, entry);
    }
    return {
      result,
      summary: {
        wallMs: (profile.endTime - profile.startTime) / 1000,
        busyMs: busyUs / 1000,
        byPackage: [...byPackage].map(([name, us]) => ({ name, ms: us / 1000 })).sort((a, b) => b.ms - a.ms),
        topFunctions: [...byFunction.values()]
          .sort((a, b) => b.us - a.us)
          .slice(0, 15)
          .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000 })),
      },
    };
  } finally {
    await session.post("Profiler.disable").catch(() => {});
    session.disconnect();
  }
}
