// Merges the pieces that the consumer's partitions hand in for one stream into bounded flushes:
// a flush takes pieces up to `maxMessages` messages (at least one piece), starts `waitMs` after the
// first piece arrived (at once when the bound is reached), and only one flush of a stream runs at a
// time, so the stream's transactions never overlap (no lock fights between them) and a partition's
// pieces are stored in the order they were handed in. Each piece's promise settles with what the
// flush returned for it, or with the flush's error.
export interface Piece {
  /** Messages in the piece (the size bound counts these). */
  readonly size: number;
}

/** What one flush returns: a result per piece, in the order given. */
export type Flush<P extends Piece, R> = (pieces: P[]) => Promise<R[]>;

interface Waiting<P, R> {
  piece: P;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class StreamMerger<P extends Piece, R> {
  private readonly waiting: Waiting<P, R>[] = [];
  private waitingSize = 0;
  private timer: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    private readonly flush: Flush<P, R>,
    private readonly maxMessages: number,
    private readonly waitMs: number,
  ) {}

  /** Hands a piece in; settles once the flush that took it is done. */
  add(piece: P): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ piece, resolve, reject });
      this.waitingSize += piece.size;
      if (this.draining) return; // the running drain takes it after the flush in progress
      if (this.waitingSize >= this.maxMessages) this.startDrain();
      else this.timer ??= setTimeout(() => this.startDrain(), this.waitMs);
    });
  }

  private startDrain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.draining) return;
    this.draining = true;
    void this.drain();
  }

  /** Flushes what is waiting, one bounded flush after another, until nothing waits. */
  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const taken: Waiting<P, R>[] = [];
        let size = 0;
        while (this.waiting.length > 0) {
          const next = this.waiting[0] as Waiting<P, R>;
          if (taken.length > 0 && size + next.piece.size > this.maxMessages) break;
          this.waiting.shift();
          taken.push(next);
          size += next.piece.size;
        }
        this.waitingSize -= size;
        try {
          const results = await this.flush(taken.map((w) => w.piece));
          taken.forEach((w, i) => {
            w.resolve(results[i] as R);
          });
        } catch (error) {
          for (const w of taken) w.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
