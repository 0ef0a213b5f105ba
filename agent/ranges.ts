/**
 * How much of each fixed-size part of a file has arrived (each part is written from its start
 * onwards), and promises for "bytes [start, end) are here". Lets a consumer (extraction) start on
 * the first bytes of every part while the rest is still downloading.
 */
export class PartTracker {
  /** Bytes on disk from the start of each part. */
  private readonly filled: number[];
  private waiters: Array<{ start: number; end: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  private failure: unknown;

  constructor(
    private readonly partSize: number,
    private readonly total: number,
  ) {
    this.filled = new Array(Math.ceil(total / partSize)).fill(0);
  }

  /** Bytes [partStart, upTo) of the part that starts at `partStart` are on disk. */
  advance(partStart: number, upTo: number): void {
    const i = Math.floor(partStart / this.partSize);
    this.filled[i] = Math.max(this.filled[i], upTo - i * this.partSize);
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!this.covered(w.start, w.end)) return true;
      w.resolve();
      return false;
    });
  }

  /** Every pending and future wait rejects with `err`. */
  fail(err: unknown): void {
    this.failure = err;
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
  }

  waitFor(start: number, end: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (end <= start || this.covered(start, end)) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ start, end, resolve, reject }));
  }

  private covered(start: number, end: number): boolean {
    const first = Math.floor(start / this.partSize);
    const last = Math.min(this.filled.length - 1, Math.floor((end - 1) / this.partSize));
    for (let i = first; i <= last; i++) {
      const need = Math.min(end, Math.min(this.total, (i + 1) * this.partSize)) - i * this.partSize;
      if (this.filled[i] < need) return false;
    }
    return true;
  }
}
