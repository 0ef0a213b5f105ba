/**
 * A byte budget shared by every transfer: a part or small file is read into memory only after its
 * bytes are granted, and handed back once sent. Waiters are served first come, first served.
 */
export class ByteBudget {
  private used = 0;
  private readonly queue: Array<{ n: number; grant: () => void }> = [];

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new TypeError(`budget must be a positive number of bytes, got ${limit}`);
  }

  get inUse(): number {
    return this.used;
  }

  /** Waits until `n` bytes (at most the whole budget) are free; returns the release function. */
  async acquire(n: number, signal?: AbortSignal): Promise<() => void> {
    const want = Math.min(n, this.limit);
    signal?.throwIfAborted();
    if (this.queue.length === 0 && this.used + want <= this.limit) {
      this.used += want;
      return this.releaser(want);
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = { n: want, grant: resolve };
      this.queue.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(signal.reason);
            this.drain();
          }
        },
        { once: true },
      );
    });
    return this.releaser(want);
  }

  private releaser(n: number): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.used -= n;
      this.drain();
    };
  }

  private drain(): void {
    while (this.queue.length > 0 && this.used + this.queue[0].n <= this.limit) {
      const w = this.queue.shift()!;
      this.used += w.n;
      w.grant();
    }
  }
}
