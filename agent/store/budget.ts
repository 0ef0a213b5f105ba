import { noteDropped } from '../heap.ts';

/** Requests up to this many bytes get a buffer of their own size (small files: no slot wasted). */
export const SMALL_BUFFER = 1024 * 1024;

/**
 * Idle slots no part has asked for in this long are dropped. Measured on `bench row-many`: once the
 * post files were up, 16 idle slots (128 MiB at the default part size) stayed for the 20,000 small
 * files behind them, a third of the peak RSS. Parts of one file reuse a slot within milliseconds.
 */
export const IDLE_SLOT_MS = 1000;

interface Waiter {
  need: number;
  standard: boolean;
  grant: (b: Buffer) => void;
}

/**
 * The memory bound of all transfers together: the buffers it lends, and the idle ones it keeps for
 * reuse, never add up to more than `limit` bytes. Parts of `slotSize` (the usual multipart part)
 * come from a pool of reused slots, allocated on first use and dropped after IDLE_SLOT_MS unused (no
 * per-part allocation, so RSS stays at the bound instead of waiting for the garbage collector).
 * Small bodies (≤ SMALL_BUFFER) and parts larger than a slot (a file grown past 10,000 parts) get a
 * buffer of their own size, dropped on release; idle slots are dropped to make room for them
 * (heap.ts collects what was dropped every GARBAGE bytes).
 * Waiters are served first come, first served.
 */
export class ByteBudget {
  private readonly free: Buffer[] = [];
  /** Bytes lent out (a standard request counts a whole slot). */
  private lent = 0;
  private readonly queue: Waiter[] = [];
  /** When a slot was last lent or handed back (ms), and the timer that drops idle ones. */
  private slotUsed = 0;
  private idleTimer: NodeJS.Timeout | undefined;

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
        if (standard) this.dropWhenIdle();
      },
    };
  }

  private fits(need: number, standard: boolean): boolean {
    if (standard && this.free.length > 0) return true;
    return this.lent + need <= this.limit; // idle slots are dropped to make room
  }

  /** Drops the idle slots once no slot has been lent or handed back for IDLE_SLOT_MS. */
  private dropWhenIdle(): void {
    this.slotUsed = Date.now();
    if (this.idleTimer || this.free.length === 0) return;
    const check = () => {
      this.idleTimer = undefined;
      if (this.free.length === 0) return;
      const left = this.slotUsed + IDLE_SLOT_MS - Date.now();
      if (left > 0) {
        this.idleTimer = setTimeout(check, left).unref();
        return;
      }
      const n = this.free.length;
      this.free.length = 0;
      noteDropped(n * this.slotSize);
    };
    this.idleTimer = setTimeout(check, IDLE_SLOT_MS).unref();
  }

  private grantNow(need: number, standard: boolean): Buffer {
    this.lent += need;
    if (standard) this.slotUsed = Date.now();
    if (standard && this.free.length > 0) return this.free.pop()!;
    while (this.held > this.limit && this.free.length > 0) {
      this.free.pop();
      noteDropped(this.slotSize); // the collector reclaims it (heap.ts: soon)
    }
    return Buffer.allocUnsafeSlow(need);
  }

  private wait(need: number, standard: boolean, signal?: AbortSignal): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i < 0) return;
        this.queue.splice(i, 1);
        reject(signal!.reason);
        this.pump(); // a smaller request behind it may fit now
      };
      // Granted, the listener goes: left on the run's long-lived signal, it held the granted buffer
      // (through this promise) for the rest of the run — on `bench row-many`, ~100 MiB of part slots
      // the budget had long dropped, found in a heap snapshot.
      const grant = (b: Buffer) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(b);
      };
      const waiter: Waiter = { need, standard, grant };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
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
