import { describe, expect, it } from 'vitest';
import { PartTracker } from '../../agent/ranges.ts';

describe('PartTracker', () => {
  const settled = async (p: Promise<void>) => {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    await new Promise((r) => setImmediate(r));
    return done;
  };

  it('a range is ready once every part it touches has arrived up to it, parts filling from their starts', async () => {
    const t = new PartTracker(100, 250); // parts [0,100) [100,200) [200,250)
    const a = t.waitFor(10, 60);
    const b = t.waitFor(90, 120);
    const c = t.waitFor(210, 250);
    t.advance(0, 50);
    expect(await settled(a)).toBe(false);
    t.advance(0, 60);
    expect(await settled(a)).toBe(true);
    t.advance(100, 130); // b's second half is here, its first half (90..100) is not
    expect(await settled(b)).toBe(false);
    t.advance(0, 100);
    expect(await settled(b)).toBe(true);
    t.advance(200, 249);
    expect(await settled(c)).toBe(false);
    t.advance(200, 250);
    expect(await settled(c)).toBe(true);
    expect(await settled(t.waitFor(0, 250))).toBe(false); // 130..200 still missing
  });

  it('a failure rejects pending and later waits', async () => {
    const t = new PartTracker(10, 20);
    const w = t.waitFor(0, 20);
    t.fail(new Error('gone'));
    await expect(w).rejects.toThrow('gone');
    await expect(t.waitFor(0, 5)).rejects.toThrow('gone');
  });
});
