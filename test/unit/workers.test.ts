import { mkdtempSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../agent/store/budget.ts';
import { sendParts } from '../../agent/store/parts.ts';
import { eachIndex } from '../../agent/workers.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('eachIndex: the one worker pool', () => {
  it('works every index once, never more than `width` at once', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await eachIndex(100, 7, async (i) => {
      running++;
      most = Math.max(most, running);
      await tick(Math.random() * 3);
      seen.push(i);
      running--;
    });
    expect(most).toBe(7);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('stopOnError: the first failure stops the others, every worker is awaited, that failure rethrows', async () => {
    const started: number[] = [];
    let stillRunning = 0;
    const run = eachIndex(
      50,
      4,
      async (i, signal) => {
        started.push(i);
        stillRunning++;
        try {
          if (i === 5) throw new Error('part 5 failed');
          await new Promise((resolve, reject) => {
            const t = setTimeout(resolve, 20);
            signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
          });
        } finally {
          stillRunning--;
        }
      },
      { stopOnError: true },
    );
    await expect(run).rejects.toThrow('part 5 failed'); // not the AbortErrors of the others
    expect(stillRunning).toBe(0);
    expect(Math.max(...started)).toBeLessThan(12); // no new index after the failure
  });

  it('without stopOnError every index is worked and the first failure rethrows at the end', async () => {
    const done: number[] = [];
    const run = eachIndex(20, 3, async (i) => {
      await tick(1);
      if (i % 5 === 0) throw new Error(`failed ${i}`);
      done.push(i);
    });
    await expect(run).rejects.toThrow(/failed (0|5|10|15)/);
    expect(done).toHaveLength(16);
  });
});

describe('sendParts: the one part pump of every store', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-parts-')), 'f');
  writeFileSync(file, Buffer.alloc(10 * 1024, 7));

  it('a part that fails before it is hashed does not leave the later parts waiting for it', async () => {
    const real = await open(file, 'r');
    // part 0's read fails late, after parts 1-3 were read, sent, and wait to be hashed after part 0
    const fh = {
      read: async (buf: Buffer, off: number, len: number, pos: number) => {
        if (pos === 0) {
          await tick(30);
          throw new Error('EIO reading part 1');
        }
        return real.read(buf, off, len, pos);
      },
    } as unknown as FileHandle;
    const budget = new ByteBudget(64 * 1024, 1024, 1024);
    const sent: number[] = [];
    try {
      const run = sendParts(
        { fh, file, size: 10 * 1024, partSize: 1024, partsPerFile: 4, budget, onOrdered: () => {} },
        async (i) => void sent.push(i),
      );
      await expect(run).rejects.toThrow('EIO reading part 1');
      expect(sent.sort()).toEqual([1, 2, 3]); // sent, then released without waiting forever
      expect(budget.inUse).toBe(0); // every buffer went back to the pool
    } finally {
      await real.close();
    }
  });
});
