import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import type { Growing, Store } from '../../agent/store/store.ts';
import { GrowingFiles } from '../../agent/transfer/growing-files.ts';
import type { FileState } from '../../agent/rundir/tree.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { quietLog } from '../helpers/unit-run.ts';

const PART = 1024;
const state = (size: number) => ({ size, mtimeMs: 0, ctimeMs: 0, ino: 1 }) as unknown as FileState;

/** A store with growing uploads that only record what was asked of them (`fail`: their grows throw). */
function growingStore(fail = false) {
  const asked: string[] = [];
  const store = Object.assign(new MemoryStore(), {
    growingPart: PART,
    growing: (file: string) =>
      ({
        grow: async (size: number) => {
          asked.push(`grow ${file.split('/').pop()} ${size}`);
          if (fail) throw new Error('the store broke off');
        },
        abort: async () => void asked.push(`abort ${file.split('/').pop()}`),
      }) as unknown as Growing,
  });
  return { store: store as Store, asked };
}

function files(store: Store, filesInFlight = 2, fence?: () => Promise<void>) {
  const prefix = parseUri('s3://bkt/out/', 'o');
  return new GrowingFiles({ store, dir: '/run', prefix, filesInFlight, log: quietLog(), fence });
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('GrowingFiles: which files grow, how many at once, and what is dropped', () => {
  it('grows files of more than two parts only, at most filesInFlight of them', async () => {
    const { store, asked } = growingStore();
    const g = files(store, 2);
    expect(g.above).toBe(2 * PART);
    g.grow('small.bin', state(2 * PART));
    g.grow('a.bin', state(2 * PART + 1));
    g.grow('b.bin', state(5 * PART));
    g.grow('c.bin', state(5 * PART)); // a third: not while two grow
    await settle();
    expect(asked).toEqual([`grow a.bin ${2 * PART + 1}`, `grow b.bin ${5 * PART}`]);
    g.grow('a.bin', state(3 * PART)); // one already growing grows on
    await settle();
    expect(asked.at(-1)).toBe(`grow a.bin ${3 * PART}`);
    expect(g.take('a.bin')).toBeDefined();
    expect(g.take('a.bin')).toBeUndefined(); // the caller's now
    g.grow('c.bin', state(5 * PART)); // room again
    await settle();
    expect(asked.at(-1)).toBe(`grow c.bin ${5 * PART}`);
  });

  it('a store without growing uploads grows nothing; neither does a key the store cannot take', async () => {
    const plain = files(new MemoryStore());
    expect(plain.above).toBe(Infinity);
    plain.grow('a.bin', state(100 * PART));
    expect(plain.take('a.bin')).toBeUndefined();
    const { store, asked } = growingStore();
    const g = files(store);
    g.grow(`${'x'.repeat(1100)}.bin`, state(5 * PART)); // a key over S3's 1,024 bytes
    await settle();
    expect(asked).toEqual([]);
  });

  it('a failed grow, or a fence that refuses, drops the upload: the file then goes up whole at its close', async () => {
    const { store, asked } = growingStore(true);
    const g = files(store);
    g.grow('a.bin', state(5 * PART));
    await settle();
    expect(asked).toEqual([`grow a.bin ${5 * PART}`, 'abort a.bin']);
    expect(g.take('a.bin')).toBeUndefined();
    const fenced = growingStore();
    const lost = files(fenced.store, 2, async () => {
      throw new Error('another attempt took the lease');
    });
    lost.grow('b.bin', state(5 * PART));
    await settle();
    expect(fenced.asked).toEqual(['abort b.bin']); // nothing sent
  });

  it('drop aborts the uploads of files no longer there, or all', async () => {
    const { store, asked } = growingStore();
    const g = files(store, 4);
    for (const f of ['a.bin', 'b.bin', 'c.bin']) g.grow(f, state(5 * PART));
    await settle();
    await g.drop((rel) => rel !== 'b.bin');
    expect(asked.filter((a) => a.startsWith('abort'))).toEqual(['abort b.bin']);
    await g.drop();
    expect(asked.filter((a) => a.startsWith('abort')).sort()).toEqual(['abort a.bin', 'abort b.bin', 'abort c.bin']);
    expect(g.take('a.bin')).toBeUndefined();
  });
});
