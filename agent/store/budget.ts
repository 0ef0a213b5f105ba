/**
 * The memory bound of all transfers together: a pool of at most floor(limit / slotSize) buffers
 * of slotSize bytes, allocated on first use and reused (no per-part allocation, so RSS stays at
 * the bound instead of waiting for the garbage collector). A part or small file is read into a
 * slot only after one is free, and the slot is handed back once the bytes are sent.
 * Waiters are served first come, first served.
 */
export class ByteBudget {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private readonly queue: Array<{ grant: (b: Buffer) => void }> = [];
  readonly slots: number;

  constructor(
    readonly limit: number,
    readonly slotSize: number,
  ) {
    if (!(slotSize > 0) || !(limit >= slotSize))
      throw new TypeError(`budget ${limit} must hold at least one slot of ${slotSize} bytes`);
    this.slots = Math.floor(limit / slotSize);
  }

  /** Bytes currently lent out. */
  get inUse(): number {
    return (this.allocated - this.free.length) * this.slotSize;
  }

  /** Waits for a free slot; returns `len` bytes of it and the function that hands it back. */
  async take(len: number, signal?: AbortSignal): Promise<{ buf: Buffer; release: () => void }> {
    if (len > this.slotSize) throw new RangeError(`${len} bytes do not fit a ${this.slotSize}-byte slot`);
    signal?.throwIfAborted();
    let slot: Buffer;
    if (this.queue.length === 0 && (this.free.length > 0 || this.allocated < this.slots)) {
      slot = this.free.pop() ?? this.allocate();
    } else {
      slot = await new Promise<Buffer>((resolve, reject) => {
        const waiter = { grant: resolve };
        this.queue.push(waiter);
        signal?.addEventListener(
          'abort',
          () => {
            const i = this.queue.indexOf(waiter);
            if (i >= 0) {
              this.queue.splice(i, 1);
              reject(signal.reason);
            }
          },
          { once: true },
        );
      });
    }
    let done = false;
    return {
      buf: slot.subarray(0, len),
      release: () => {
        if (done) return;
        done = true;
        const next = this.queue.shift();
        if (next) next.grant(slot);
        else this.free.push(slot);
      },
    };
  }

  private allocate(): Buffer {
    this.allocated++;
    return Buffer.allocUnsafeSlow(this.slotSize);
  }
}
