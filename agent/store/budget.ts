import { noteDropped } from '../heap.ts';

/** Requests up to this many bytes get a buffer of their own size (small files: no slot wasted). */
export const SMALL_BUFFER = 1024 * 1024;

interface Waiter {
  need: number;
  standard: boolean;
  grant: (b: Buffer) => void;
}

/**
 * The memory bound of all transfers together: the buffers it lends, and the idle ones it keeps for
 * reuse, never add up to more than `limit` bytes. Parts of `slotSize` (the usual multipart part)
 * come from a pool of reused slots, allocated on first use (no per-part allocation, so RSS stays at
 * the bound instead of waiting for the garbage collector). Small bodies (≤ SMALL_BUFFER) and parts
 * larger than a slot (a file grown past 10,000 parts) get a buffer of their own size, dropped on
 * release; idle slots are dropped to make room for them (heap.ts collects what was dropped every 32 MiB).
 * Waiters are served first come, first served.
 */
export class ByteBudget {
  private readonly free: Buffer[] = [];
  /** Bytes lent out (a standard request counts a whole slot). */
  private lent = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    readonly limit: number,
    readonly slotSize: number,
    /** Requests up to this size get a buffer of their own size. */
    readonly smallMax = SMALL_BUFFER,
  ) {
    if (!(slotSize > 0) || !(limit >= slotSize)) {
      throw new TypeError(`budget ${limit} must hold at least one slot of ${slotSize} bytes`);
    }
  }

  /** Bytes currently lent out. */
  get inUse(): number {
    return this.lent;
  }

  /** Bytes held in buffers, lent or idle: never more than `limit`. */
  get held(): number {
    return this.lent + this.free.length * this.slotSize;
  }

  /** Waits for `len` bytes of memory; returns a buffer of exactly `len` bytes and the function that hands it back. */
  async take(len: number, signal?: AbortSignal): Promise<{ buf: Buffer; release: () => void }> {
    const standard = len > this.smallMax && len <= this.slotSize;
    const need = standard ? this.slotSize : len;
    if (need > this.limit) throw new RangeError(`${len} bytes do not fit a memory bound of ${this.limit} bytes`);
    signal?.throwIfAborted();
    const whole =
      this.queue.length === 0 && this.fits(need, standard)
        ? this.grantNow(need, standard)
        : await this.wait(need, standard, signal);
    let done = false;
    return {
      buf: whole.subarray(0, len),
      release: () => {
        if (done) return;
        done = true;
        this.lent -= need;
        if (standard) this.free.push(whole);
        else noteDropped(need);
        this.pump();
      },
    };
  }

  private fits(need: number, standard: boolean): boolean {
    if (standard && this.free.length > 0) return true;
    return this.lent + need <= this.limit; // idle slots are dropped to make room
  }

  private grantNow(need: number, standard: boolean): Buffer {
    this.lent += need;
    if (standard && this.free.length > 0) return this.free.pop()!;
    while (this.held > this.limit && this.free.length > 0) {
      this.free.pop();
      noteDropped(this.slotSize); // the collector reclaims it (heap.ts: soon)
    }
    return Buffer.allocUnsafeSlow(need);
  }

  private wait(need: number, standard: boolean, signal?: AbortSignal): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const waiter: Waiter = { need, standard, grant: resolve };
      this.queue.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(waiter);
          if (i < 0) return;
          this.queue.splice(i, 1);
          reject(signal.reason);
          this.pump(); // a smaller request behind it may fit now
        },
        { once: true },
      );
    });
  }

  /** Serves waiters in order while the first one fits. */
  private pump(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0].need, this.queue[0].standard)) {
      const w = this.queue.shift()!;
      w.grant(this.grantNow(w.need, w.standard));
    }
  }
}
