// Peak memory while a scenario runs: this process (which hosts the service in-process) sampled
// every 50 ms, the bench's PostgreSQL processes every 500 ms.
import type { BenchCluster, PgMemory } from "./cluster.js";

export interface MemoryPeaks {
  nodeRssBytes: number;
  pgRssBytes: number | null;
  pgPrivateBytes: number | null;
}

export class MemoryTracker {
  private nodeTimer: NodeJS.Timeout | null = null;
  private pgTimer: NodeJS.Timeout | null = null;
  private peaks: MemoryPeaks = { nodeRssBytes: 0, pgRssBytes: null, pgPrivateBytes: null };
  private pgBusy = false;

  constructor(private readonly cluster: BenchCluster) {}

  start(): void {
    this.stop();
    this.peaks = { nodeRssBytes: process.memoryUsage.rss(), pgRssBytes: null, pgPrivateBytes: null };
    this.nodeTimer = setInterval(() => {
      this.peaks.nodeRssBytes = Math.max(this.peaks.nodeRssBytes, process.memoryUsage.rss());
    }, 50);
    this.nodeTimer.unref();
    const samplePg = async () => {
      if (this.pgBusy) return;
      this.pgBusy = true;
      try {
        const memory: PgMemory | null = await this.cluster.pgMemory();
        if (memory) {
          this.peaks.pgRssBytes = Math.max(this.peaks.pgRssBytes ?? 0, memory.rssBytes);
          this.peaks.pgPrivateBytes = Math.max(this.peaks.pgPrivateBytes ?? 0, memory.privateBytes);
        }
      } finally {
        this.pgBusy = false;
      }
    };
    void samplePg();
    this.pgTimer = setInterval(() => void samplePg(), 500);
    this.pgTimer.unref();
  }

  /** Stops sampling and returns the peaks since start(). */
  stop(): MemoryPeaks {
    if (this.nodeTimer) clearInterval(this.nodeTimer);
    if (this.pgTimer) clearInterval(this.pgTimer);
    this.nodeTimer = null;
    this.pgTimer = null;
    this.peaks.nodeRssBytes = Math.max(this.peaks.nodeRssBytes, process.memoryUsage.rss());
    return { ...this.peaks };
  }
}
