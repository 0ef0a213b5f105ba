import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../agent/s3/budget.ts';

describe('ByteBudget', () => {
  it('never grants more than its limit, over many random concurrent holders', async () => {
    const budget = new ByteBudget(100);
    let held = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const n = 1 + ((i * 37) % 60);
        const release = await budget.acquire(n);
        held += n;
        peak = Math.max(peak, held);
        expect(held).toBeLessThanOrEqual(100);
        await new Promise((r) => setTimeout(r, (i * 7) % 5));
        held -= n;
        release();
      }),
    );
    expect(peak).toBeGreaterThan(60);
    expect(budget.inUse).toBe(0);
  });
  it('serves waiters first come, first served, and a request larger than the limit gets the whole budget', async () => {
    const budget = new ByteBudget(10);
    const r1 = await budget.acquire(8);
    const order: string[] = [];
    const big = budget.acquire(50).then((r) => (order.push('big'), r));
    const small = budget.acquire(1).then((r) => (order.push('small'), r));
    r1();
    (await big)();
    (await small)();
    expect(order).toEqual(['big', 'small']);
  });
  it('an aborted wait rejects and gives its place away', async () => {
    const budget = new ByteBudget(10);
    const r1 = await budget.acquire(10);
    const ac = new AbortController();
    const waiting = budget.acquire(5, ac.signal);
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    r1();
    expect(budget.inUse).toBe(0);
  });
  it('refuses a non-positive limit', () => {
    expect(() => new ByteBudget(0)).toThrow(TypeError);
  });
});
