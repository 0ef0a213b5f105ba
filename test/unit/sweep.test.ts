import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finalSweep } from '../../agent/transfer/sweep.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { objectsUnder, quietLog, runDir, uploaderFor, write } from '../helpers/unit-run.ts';
import { scanTree } from '../../agent/rundir/tree.ts';

describe('the final sweep against the in-memory store', () => {
  it('keeps the uploads of unchanged files, uploads the rest, names what was deleted after its upload', async () => {
    const dir = runDir({ 'in.dat': 'input' }, 60_000);
    const baseline = (await scanTree(dir)).files;
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    write(dir, 'early.txt', 'uploaded while the solver ran');
    write(dir, 'gone.tmp', 'a temporary file');
    const early = await up.upload('early.txt', undefined, undefined, true);
    const gone = await up.upload('gone.tmp', undefined, undefined, true);
    rmSync(join(dir, 'gone.tmp'));
    write(dir, 'late.txt', 'written at the end');
    const puts = () => store.calls.filter((c) => c.startsWith('put ')).length;
    const before = puts();
    const r = await finalSweep({ dir, baseline, uploadAll: false, skip: () => false, uploader: up, log: quietLog() });
    expect(puts() - before).toBe(1); // late.txt only: early.txt is current
    expect([...r.outcomes.keys()].sort()).toEqual(['early.txt', 'late.txt']);
    expect(r.outcomes.get('early.txt')).toBe(early);
    expect(r.outcomes.get('early.txt')!.live).toBe(true);
    expect(r.outcomes.get('late.txt')!.live).toBe(false);
    expect(r.deletedAfterLive).toEqual([{ rel: 'gone.tmp', etag: gone.etag }]);
    expect(r.unsettled).toEqual([]);
    expect(objectsUnder(store)['late.txt']).toBe('written at the end');
  });

  it('a file that keeps changing after every round is left unsettled (kept, the run incomplete)', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    let n = 0;
    // every upload of busy.log is followed by another write to it, as by a writer outside the run
    const real = up.upload.bind(up);
    up.upload = async (...a: Parameters<typeof real>) => {
      const o = await real(...a);
      if (a[0] === 'busy.log') write(dir, 'busy.log', `line ${++n}\n`.repeat(n));
      return o;
    };
    write(dir, 'busy.log', 'line 0\n');
    const r = await finalSweep({
      dir,
      baseline: new Map(),
      uploadAll: false,
      skip: () => false,
      uploader: up,
      log: quietLog(),
    });
    expect(r.unsettled).toEqual(['busy.log']);
    expect(n).toBe(4); // the main sweep and 3 rounds
  });
});

describe('the final sweep, many small files and a big one', () => {
  it('starts the big one first, whatever its name', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    for (let i = 0; i < 50; i++) write(dir, `logs/log_${i}.txt`, `log ${i}\n`);
    write(dir, 'zz/post.bin', 'p'.repeat(2 * 1024 * 1024));
    await finalSweep({ dir, baseline: new Map(), uploadAll: false, skip: () => false, uploader: up, log: quietLog() });
    const puts = store.calls.filter((c) => c.startsWith('put '));
    expect(puts).toHaveLength(51);
    expect(puts[0]).toBe('put out/row/zz/post.bin');
  });
});
