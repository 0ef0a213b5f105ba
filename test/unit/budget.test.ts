import { getEventListeners } from 'node:events';
import * as heap from '../../agent/heap.ts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ByteBudget, IDLE_SLOT_MS } from '../../agent/store/budget.ts';

describe('ByteBudget (the transfer memory bound)', () => {
  it('never lends more slots than fit the limit, over many random concurrent holders', async () => {
    const budget = new ByteBudget(100, 30, 0); // 3 slots (no small buffers)
    let held = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const { buf, release } = await budget.take(1 + ((i * 37) % 30));
        held++;
        peak = Math.max(peak, held);
        expect(held).toBeLessThanOrEqual(3);
        expect(budget.inUse).toBeLessThanOrEqual(100);
        buf.fill(i);
        await new Promise((r) => setTimeout(r, (i * 7) % 5));
        held--;
        release();
      }),
    );
    expect(peak).toBe(3);
    expect(budget.inUse).toBe(0);
  });
  it('reuses slots instead of allocating new ones', async () => {
    const budget = new ByteBudget(16, 8, 0);
    const a = await budget.take(8);
    const first = a.buf.buffer;
    a.release();
    a.release(); // a second release is ignored
    const b = await budget.take(4);
    expect(b.buf.buffer).toBe(first);
    expect(b.buf.length).toBe(4);
  });
  it('serves waiters first come, first served', async () => {
    const budget = new ByteBudget(8, 8, 0);
    const first = await budget.take(8);
    const order: number[] = [];
    const w = [1, 2, 3].map((n) => budget.take(1).then((t) => (order.push(n), t.release())));
    first.release();
    await Promise.all(w);
    expect(order).toEqual([1, 2, 3]);
  });
  it('an aborted wait rejects and gives its place away', async () => {
    const budget = new ByteBudget(8, 8, 0);
    const held = await budget.take(8);
    const ac = new AbortController();
    const waiting = budget.take(5, ac.signal);
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    const next = budget.take(8);
    held.release();
    (await next).release();
    expect(budget.inUse).toBe(0);
  });
  it('a granted wait leaves no listener on a long-lived signal (it would hold the buffer for the run)', async () => {
    const budget = new ByteBudget(16, 8, 0);
    const run = new AbortController();
    const held = await budget.take(8, run.signal);
    const waits = Array.from({ length: 50 }, () =>
      budget.take(8, run.signal).then(async (t) => {
        await new Promise((r) => setImmediate(r));
        t.release();
      }),
    );
    expect(getEventListeners(run.signal, 'abort').length).toBeGreaterThan(0); // some do wait
    held.release();
    await Promise.all(waits);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
    expect(budget.inUse).toBe(0);
  });
  it('refuses a budget smaller than one slot and a request larger than the whole bound', async () => {
    expect(() => new ByteBudget(4, 8)).toThrow(TypeError);
    await expect(new ByteBudget(8, 8).take(9)).rejects.toThrow(RangeError);
  });
  it('gives small bodies buffers of their own size: many fit where one slot would', async () => {
    const budget = new ByteBudget(64, 32, 4);
    const small = await Promise.all(Array.from({ length: 16 }, () => budget.take(4)));
    expect(budget.inUse).toBe(64);
    expect(small.every((t) => t.buf.length === 4)).toBe(true);
    const blocked = budget.take(1).then((t) => t);
    small[0].release();
    expect((await blocked).buf.length).toBe(1);
  });
  it('a part larger than a slot is lent whole; idle slots are dropped to make room, the bound holds', async () => {
    const budget = new ByteBudget(48, 16, 0);
    const slots = await Promise.all([budget.take(16), budget.take(16)]);
    for (const s of slots) s.release();
    expect(budget.held).toBe(32); // two idle slots kept for reuse
    const big = await budget.take(40);
    expect(big.buf.length).toBe(40);
    expect(budget.held).toBeLessThanOrEqual(48);
    const slot = budget.take(16);
    let got = false;
    void slot.then(() => (got = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toBe(false); // 40 + 16 > 48: it waits
    big.release();
    (await slot).release();
    expect(budget.inUse).toBe(0);
  });
});

describe('idle slots', () => {
  afterEach(() => vi.useRealTimers());
  it('are dropped once no part has used one for IDLE_SLOT_MS, and collected', async () => {
    vi.useFakeTimers();
    const b = new ByteBudget(64 << 20, 8 << 20);
    const four = await Promise.all([0, 1, 2, 3].map(() => b.take(8 << 20)));
    for (const t of four) t.release();
    expect(b.held).toBe(32 << 20);
    vi.advanceTimersByTime(IDLE_SLOT_MS - 100);
    const again = await b.take(8 << 20); // reused within the window: the pool stays, the clock restarts
    again.release();
    vi.advanceTimersByTime(IDLE_SLOT_MS - 100);
    expect(b.held).toBe(32 << 20);
    const before = heap.collections;
    vi.advanceTimersByTime(200);
    expect(b.held).toBe(0);
    expect(heap.collections).toBe(before + 1); // 32 MiB dropped at once (≥ GARBAGE): collected now
    const fresh = await b.take(8 << 20); // a slot is allocated again when asked for
    expect(fresh.buf.length).toBe(8 << 20);
    fresh.release();
  });
});

describe('buffers the budget drops', () => {
  it('are collected every GARBAGE bytes (V8 lets far more external memory pile up)', async () => {
    const b = new ByteBudget(64 << 20, 8 << 20);
    heap.noteDropped(heap.GARBAGE); // a collection now: what earlier tests dropped is counted no more
    const before = heap.collections;
    const n = heap.GARBAGE / (1 << 20);
    for (let i = 0; i < n - 1; i++) (await b.take(1 << 20)).release(); // own-size buffers, dropped on release
    expect(heap.collections).toBe(before);
    for (let i = 0; i < 2; i++) (await b.take(1 << 20)).release();
    expect(heap.collections).toBe(before + 1);
  });
});

describe('checkHeap', () => {
  it('collects once the heap has grown by GROWTH since the last collection, not before', () => {
    heap.noteDropped(heap.GARBAGE); // a collection now: the baseline
    const before = heap.collections;
    heap.checkHeap();
    expect(heap.collections).toBe(before); // nothing grown
    const live = Array.from({ length: 40_000 }, (_, i) => new Array(100).fill(i + 0.5)); // ~40 MB of arrays
    heap.checkHeap();
    expect(heap.collections).toBe(before + 1);
    expect(live).toHaveLength(40_000);
  });
});
