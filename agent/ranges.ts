/**
 * Which fixed-size parts of a file have arrived, and promises for "bytes [start, end) are here".
 * Lets a consumer (extraction) start on the first parts while later ones are still downloading.
 */
export class PartTracker {
  private readonly done: boolean[];
  private waiters: Array<{ first: number; last: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  private failure: unknown;

  constructor(
    private readonly partSize: number,
    total: number,
  ) {
    this.done = new Array(Math.ceil(total / partSize)).fill(false);
  }

  /** Marks the part that starts at byte `start` as complete. */
  complete(start: number): void {
    this.done[Math.floor(start / this.partSize)] = true;
    this.waiters = this.waiters.filter((w) => {
      if (!this.covered(w.first, w.last)) return true;
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
    if (end <= start) return Promise.resolve();
    const first = Math.floor(start / this.partSize);
    const last = Math.min(this.done.length - 1, Math.floor((end - 1) / this.partSize));
    if (this.covered(first, last)) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ first, last, resolve, reject }));
  }

  private covered(first: number, last: number): boolean {
    for (let i = first; i <= last; i++) if (!this.done[i]) return false;
    return true;
  }
}
