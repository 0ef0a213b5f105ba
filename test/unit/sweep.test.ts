import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finalSweep } from '../../agent/transfer/sweep.ts';
import type { Uploader } from '../../agent/transfer/upload.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { objectsUnder, quietLog, runDir, uploaderFor, write } from '../helpers/unit-run.ts';
import { scanTree } from '../../agent/rundir/tree.ts';

/** The final sweep of `dir` with nothing in its baseline, nothing skipped, and `holders` when given. */
const sweepOf = (dir: string, up: Uploader, holders?: () => Map<string, string>) =>
  finalSweep({ dir, baseline: new Map(), uploadAll: false, skip: () => false, uploader: up, holders, log: quietLog() });

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
    const r = await sweepOf(dir, up);
    expect(r.unsettled).toEqual(['busy.log']);
    expect(n).toBe(4); // the main sweep and 3 rounds
  });
});

describe('the final sweep and a file held open from outside the run', () => {
  // A `tee` of ferry's output writes its file only when ferry prints a line: right after the main
  // sweep the file may look settled, yet the tee holds it open and writes again a moment later.
  it('looks again after a wait, and uploads what the holder wrote meanwhile', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    write(dir, 'console.txt', 'line 1\n');
    const real = up.upload.bind(up);
    let late: Promise<void> | undefined;
    up.upload = async (...a: Parameters<typeof real>) => {
      const o = await real(...a);
      if (a[0] === 'console.txt' && !late)
        late = new Promise((r) => setTimeout(r, 300)).then(() => write(dir, 'console.txt', 'line 1\nline 2\n'));
      return o;
    };
    const holders = () => new Map([['console.txt', 'pid 4242, tee']]);
    const r = await sweepOf(dir, up, holders);
    expect(r.unsettled).toEqual([]);
    expect(objectsUnder(store)['console.txt']).toBe('line 1\nline 2\n');
  });

  it('without the holder the same late write is missed (what the wait is for)', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    write(dir, 'console.txt', 'line 1\n');
    const real = up.upload.bind(up);
    up.upload = async (...a: Parameters<typeof real>) => {
      const o = await real(...a);
      if (a[0] === 'console.txt') setTimeout(() => write(dir, 'console.txt', 'line 1\nline 2\n'), 300);
      return o;
    };
    await sweepOf(dir, up);
    expect(objectsUnder(store)['console.txt']).toBe('line 1\n');
  });

  it('a holder that writes nothing more delays the sweep once, then the file counts as settled', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    write(dir, 'idle.log', 'opened, never written again\n');
    write(dir, 'other.txt', 'not held');
    let asked = 0;
    const holders = () => (
      asked++,
      new Map([
        ['idle.log', 'pid 4242, daemon'],
        ['in-skip.txt', 'pid 1, x'],
      ])
    );
    const r = await sweepOf(dir, up, holders);
    expect(asked).toBe(1);
    expect(r.unsettled).toEqual([]);
    expect(Object.keys(objectsUnder(store)).sort()).toEqual(['idle.log', 'other.txt']);
  });
});

describe('the final sweep, many small files and a big one', () => {
  it('starts the big one first, whatever its name', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    for (let i = 0; i < 50; i++) write(dir, `logs/log_${i}.txt`, `log ${i}\n`);
    write(dir, 'zz/post.bin', 'p'.repeat(2 * 1024 * 1024));
    await sweepOf(dir, up);
    const puts = store.calls.filter((c) => c.startsWith('put '));
    expect(puts).toHaveLength(51);
    expect(puts[0]).toBe('put out/row/zz/post.bin');
  });
});
