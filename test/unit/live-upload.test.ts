import { appendFileSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanTree } from '../../agent/rundir/tree.ts';
import { LiveUpload, sendOrder, type LiveOptions } from '../../agent/transfer/live-upload.ts';
import { UPLOADS_UNDER_WAY } from '../../agent/transfer/upload.ts';
import { TreeWatch } from '../../agent/rundir/watch.ts';
import type { Location } from '../../agent/location.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { objectsUnder, quietLog, runDir, uploaderFor, write } from '../helpers/unit-run.ts';

/** A live upload of `dir` to `store`: no baseline, nothing skipped, outputs only, unless `o` says otherwise. */
const liveOn = (store: MemoryStore, dir: string, o: Partial<LiveOptions> & Pick<LiveOptions, 'settleMs'>) =>
  new LiveUpload(uploaderFor(store, dir), {
    dir,
    baseline: new Map(),
    uploadAll: false,
    skip: () => false,
    log: quietLog(),
    ...o,
  });

const until = async (ok: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !ok() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  return ok();
};

describe('LiveUpload against the in-memory store', () => {
  it('uploads outputs once settled, never the baseline or skipped files, and again after a change', async () => {
    const dir = runDir({ 'input.dat': 'in', config: 'secret' }, 60_000);
    const baseline = (await scanTree(dir)).files;
    const store = new MemoryStore();
    const up = uploaderFor(store, dir);
    const live = new LiveUpload(up, {
      dir,
      baseline,
      uploadAll: true, // --upload-all: the skip rule alone keeps config out
      skip: (rel) => rel === 'config',
      settleMs: 100,
      log: quietLog(),
    });
    write(dir, 'out/a.txt', 'first');
    live.start();
    try {
      expect(await until(() => objectsUnder(store)['out/a.txt'] === 'first')).toBe(true);
      writeFileSync(join(dir, 'out/a.txt'), 'second, longer');
      expect(await until(() => objectsUnder(store)['out/a.txt'] === 'second, longer')).toBe(true);
    } finally {
      await live.stopWatching();
      await live.drain();
    }
    expect(Object.keys(objectsUnder(store)).sort()).toEqual(['input.dat', 'out/a.txt']);
    expect(live.uploaded).toBe(3); // input.dat once, a.txt twice
    expect(up.current('out/a.txt', (await scanTree(dir)).files.get('out/a.txt'))?.live).toBe(true);
  });

  it('a file not yet settled is not uploaded, however many scans see it', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const live = liveOn(store, dir, { settleMs: 800 });
    write(dir, 'growing.log', 'x', -3_600_000); // modified "in an hour": never quiet for 800 ms
    live.start();
    expect(await until(() => live.scans >= 3)).toBe(true); // seen, unchanged, by several scans
    await live.stopWatching();
    expect(store.objects.size).toBe(0);
    expect(live.uploaded).toBe(0);
  });

  it('every writer seen: a file nobody writes goes up before --settle; one held open or changed waits', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const held = new Set(['held.dat']);
    const live = liveOn(store, dir, {
      settleMs: 3_600_000, // an hour: only the writers rule can send anything here
      writing: () => ({ paths: held, all: true }),
    });
    write(dir, 'done.dat', 'done', 5_000); // written 5 s ago
    write(dir, 'held.dat', 'part', 5_000);
    live.start();
    try {
      expect(await until(() => objectsUnder(store)['done.dat'] === 'done')).toBe(true);
      expect(await until(() => live.scans >= 4)).toBe(true);
      expect(objectsUnder(store)['held.dat']).toBeUndefined();
      held.clear(); // closed
      expect(await until(() => objectsUnder(store)['held.dat'] === 'part')).toBe(true);
      // Changed after its upload: now it must be quiet for --settle (an hour) before it goes again.
      write(dir, 'done.dat', 'done, then more', 5_000);
      const scans = live.scans;
      expect(await until(() => live.scans >= scans + 4)).toBe(true);
      expect(objectsUnder(store)['done.dat']).toBe('done');
    } finally {
      await live.stopWatching();
      await live.drain();
    }
  });

  it('every writer seen: a file untouched for the quiet time goes up at the first scan that sees it', async () => {
    // A post file closed just before the solver exits: one scan (not two) decides, so it is under way
    // by the exit; its ctime says nothing touched it since, whatever its mtime (set back here).
    const dir = runDir();
    const store = new MemoryStore();
    const live = liveOn(store, dir, { settleMs: 3_600_000, writing: () => ({ paths: new Set(), all: true }) });
    write(dir, 'post.bin', 'closed', 5_000);
    live.start();
    try {
      expect(await until(() => objectsUnder(store)['post.bin'] === 'closed')).toBe(true);
      expect(live.scans).toBe(1);
    } finally {
      await live.stopWatching();
      await live.drain();
    }
  });

  it('when some writer may be out of sight, only --settle counts', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const live = liveOn(store, dir, {
      settleMs: 3_600_000,
      writing: () => ({ paths: new Set(), all: false }), // e.g. ranks on another node
    });
    write(dir, 'done.dat', 'done', 5_000);
    live.start();
    expect(await until(() => live.scans >= 4)).toBe(true);
    await live.stopWatching();
    expect(store.objects.size).toBe(0);
  });

  it('a checkpoint nobody writes still waits out --settle (a later attempt would resume from it)', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const live = liveOn(store, dir, {
      settleMs: 3_600_000,
      writing: () => ({ paths: new Set(), all: true }),
      first: (rel) => rel.endsWith('.rst'),
    });
    write(dir, 'restart0003.rst', 'closed, then maybe opened again', 5_000);
    write(dir, 'post.dat', 'post', 5_000);
    live.start();
    try {
      expect(await until(() => objectsUnder(store)['post.dat'] === 'post')).toBe(true);
      const scans = live.scans;
      expect(await until(() => live.scans >= scans + 4)).toBe(true);
      expect(objectsUnder(store)['restart0003.rst']).toBeUndefined();
    } finally {
      await live.stopWatching();
      await live.drain();
    }
  });
});

describe('the order settled files are sent in', () => {
  it('checkpoints first, then the biggest, whatever the scan found first', () => {
    const st = (size: number) => ({ size, mtimeMs: 0 });
    const ready: Array<[string, ReturnType<typeof st>]> = [
      ['logs/a.txt', st(10)],
      ['logs/b.txt', st(20)],
      ['post/p.bin', st(100 << 20)],
      ['restart/r.rst', st(5)],
    ];
    const order = sendOrder(ready, (rel) => rel.startsWith('restart/')).map(([rel]) => rel);
    expect(order).toEqual(['restart/r.rst', 'post/p.bin', 'logs/b.txt', 'logs/a.txt']);
  });
});

/** Small files' uploads wait until `open()`; big ones go through. */
class GatedStore extends MemoryStore {
  private opened!: () => void;
  private readonly gate = new Promise<void>((r) => (this.opened = r));
  open(): void {
    this.opened();
  }
  override async putFile(file: string, size: number, dest: Location, o?: Parameters<MemoryStore['putFile']>[3]) {
    if (size <= 1024 * 1024) await this.gate;
    return super.putFile(file, size, dest, o);
  }
}

describe('live upload with as many small uploads under way as it allows', () => {
  it('still sends a big file that settles meanwhile', async () => {
    const dir = runDir();
    const store = new GatedStore();
    const live = liveOn(store, dir, { settleMs: 100 });
    for (let i = 0; i < UPLOADS_UNDER_WAY + 10; i++) write(dir, `logs/log_${i}.txt`, `log ${i}\n`, 5_000);
    live.start();
    try {
      expect(await until(() => live.scans >= 2, 15_000)).toBe(true); // the small ones are under way (held)
      write(dir, 'post/post_0.bin', 'p'.repeat(2 * 1024 * 1024), 5_000);
      expect(await until(() => objectsUnder(store)['post/post_0.bin'] !== undefined, 15_000)).toBe(true);
      expect(Object.keys(objectsUnder(store))).toEqual(['post/post_0.bin']);
    } finally {
      store.open();
      await live.stopWatching();
      await live.drain();
    }
  }, 40_000); // 1,034 files scanned and held: 2.5 s alone, over 5 s beside other work on two cores
});

describe('when the next scan comes', () => {
  const at = (dir: string, rel: string, ms: number) => utimesSync(join(dir, rel), ms / 1000, ms / 1000);
  /** Every value nextScanMs takes while `ok` is false (it changes once per scan, 250 ms apart at least). */
  const waits = async (live: LiveUpload, ok: () => boolean, ms = 8000) => {
    const seen: number[] = [];
    for (const end = Date.now() + ms; !ok() && Date.now() < end; await new Promise((r) => setTimeout(r, 10)))
      if (seen.at(-1) !== live.nextScanMs) seen.push(live.nextScanMs);
    return seen;
  };
  const writers = () => ({ paths: new Set<string>(), all: true });

  it('a new file too fresh to send is looked at again as it turns quiet, not a whole period later', async () => {
    const dir = runDir();
    const store = new MemoryStore();
    const live = liveOn(store, dir, { settleMs: 3_600_000, writing: writers });
    write(dir, 'log_1.txt', 'step 1');
    at(dir, 'log_1.txt', Date.now() + 500); // touched "in 0.5 s": the first scan, 0.5 s from now, finds it fresh
    live.start();
    try {
      const seen = await waits(live, () => objectsUnder(store)['log_1.txt'] === 'step 1');
      expect(objectsUnder(store)['log_1.txt']).toBe('step 1');
      expect(
        seen.some((w) => w > 0 && w < 500),
        `waits ${seen.join(', ')}`,
      ).toBe(true);
    } finally {
      await live.stopWatching();
      await live.drain();
    }
  });

  it('a file written all the time pulls the scans forward once (when first seen), not at every scan', async () => {
    const dir = runDir();
    const live = liveOn(new MemoryStore(), dir, { settleMs: 3_600_000, writing: writers });
    write(dir, 'solver.log', 'line');
    const bump = setInterval(() => at(dir, 'solver.log', Date.now() + 100), 20); // always 0.35 s short of quiet
    live.start();
    try {
      const seen = await waits(live, () => live.scans >= 6);
      expect(seen.filter((w) => w < 500).length, `waits ${seen.join(', ')}`).toBeLessThanOrEqual(1);
      expect(seen.at(-1)).toBe(500); // (values in a row are kept once)
    } finally {
      clearInterval(bump);
      await live.stopWatching();
    }
  });
});

describe('files created while the solver runs', () => {
  const writers = () => ({ paths: new Set<string>(), all: true });

  it('bring the next scan forward, in a folder that was there and in one made since', async () => {
    const dir = runDir({ 'case/mesh.dat': 'input' });
    const baseline = (await scanTree(dir)).files;
    const store = new MemoryStore();
    // An hour of --settle: every scan comes SCAN_MS apart, unless a file created brings one forward.
    const live = liveOn(store, dir, { settleMs: 3_600_000, writing: writers, baseline });
    live.start();
    try {
      write(dir, 'case/result.csv', 'in a folder of the input');
      expect(await until(() => objectsUnder(store)['case/result.csv'] !== undefined)).toBe(true);
      const early = live.early;
      expect(early).toBeGreaterThanOrEqual(1);
      write(dir, 'logs/deep/log_1.txt', 'in folders made since');
      expect(await until(() => objectsUnder(store)['logs/deep/log_1.txt'] !== undefined)).toBe(true);
      expect(live.early).toBeGreaterThan(early);
    } finally {
      await live.stopWatching();
      await live.drain();
    }
    expect(Object.keys(objectsUnder(store)).sort()).toEqual(['case/result.csv', 'logs/deep/log_1.txt']);
  });

  it('a burst of files brings one scan, once they are all quiet', async () => {
    const dir = runDir({ 'case/mesh.dat': 'input', 'logs/earlier.txt': 'from before' }); // (logs/ watched)
    const baseline = (await scanTree(dir)).files;
    const store = new MemoryStore();
    const live = liveOn(store, dir, { settleMs: 3_600_000, writing: writers, baseline });
    live.start();
    try {
      // 20 logs, one every 5 ms (a solver writing its logs at the end): a scan at the first would
      // find the others too fresh or not there yet, and more would follow.
      for (let i = 0; i < 20; i++) {
        write(dir, `logs/log_${i}.txt`, `step ${i}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const all = () => Object.keys(objectsUnder(store)).filter((k) => k.startsWith('logs/log_')).length === 20;
      expect(await until(all)).toBe(true);
      expect(live.early).toBe(1);
    } finally {
      await live.stopWatching();
      await live.drain();
    }
  });

  it('writes to a file, and files of names skipped, bring no scan forward', async () => {
    const dir = runDir({ 'solver.log': 'line 0\n' });
    const baseline = (await scanTree(dir)).files;
    const live = liveOn(new MemoryStore(), dir, {
      settleMs: 3_600_000,
      writing: writers,
      baseline,
      skip: (rel) => rel === 'ferry.log' || rel.startsWith('.ferry'),
    });
    live.start();
    try {
      for (let i = 1; i <= 40; i++) {
        appendFileSync(join(dir, 'solver.log'), `line ${i}\n`);
        if (i % 10 === 0) writeFileSync(join(dir, 'ferry.log'), `ferry line ${i}\n`);
        if (i === 20) writeFileSync(join(dir, '.ferry-part'), 'temp');
        await new Promise((r) => setTimeout(r, 30));
      }
      expect(await until(() => live.scans >= 3)).toBe(true);
      expect(live.early).toBe(0);
    } finally {
      await live.stopWatching();
    }
  });
});

describe('TreeWatch', () => {
  it('watches the folders it is given, lets go of those gone, and no more than it may', () => {
    const dir = runDir({ 'a/1': 'x', 'b/c/2': 'y', 'd/3': 'z' });
    const w = new TreeWatch(
      dir,
      () => false,
      () => undefined,
      3,
    );
    try {
      expect(w.update(['a', 'b'])).toBe(3); // and the run directory itself
      expect(w.update(['a', 'b', 'b/c'])).toBe(0); // at most 3: b/c is found by the scans alone
      expect(w.size).toBe(3);
      expect(w.update(['b', 'b/c'])).toBe(1); // a let go: b/c now fits
      expect(w.update(['b', 'b/c', 'gone'])).toBe(0); // a folder removed since the scan is not an error
      expect(w.size).toBe(3);
    } finally {
      w.close();
    }
    expect(w.size).toBe(0);
    expect(w.update(['a'])).toBe(0);
  });

  it('tells of entries created, renamed and removed, not of writes', async () => {
    const dir = runDir({ 'out/old.txt': 'x', 'out/log.txt': 'l' });
    let told = 0;
    const w = new TreeWatch(
      dir,
      () => false,
      () => told++,
    );
    const settled = () => new Promise((r) => setTimeout(r, 100));
    try {
      w.update(['out']);
      for (let i = 0; i < 20; i++) appendFileSync(join(dir, 'out/log.txt'), 'more\n');
      await settled();
      expect(told).toBe(0);
      writeFileSync(join(dir, 'out/new.txt'), 'n');
      await settled();
      expect(told).toBeGreaterThan(0);
      const before = told;
      renameSync(join(dir, 'out/old.txt'), join(dir, 'out/older.txt'));
      rmSync(join(dir, 'out/new.txt'));
      await settled();
      expect(told).toBeGreaterThan(before);
    } finally {
      w.close();
    }
  });

  it('watches a folder removed and made again anew (its old watch went with it)', async () => {
    const dir = runDir({ 'w/a.txt': 'x' });
    let told = 0;
    const w = new TreeWatch(
      dir,
      () => false,
      () => told++,
    );
    const settled = () => new Promise((r) => setTimeout(r, 100));
    try {
      expect(w.update(['w'])).toBe(2);
      rmSync(join(dir, 'w'), { recursive: true });
      mkdirSync(join(dir, 'w'));
      await settled(); // the watch hears its folder go
      expect(w.size).toBe(1);
      expect(w.update(['w'])).toBe(1); // the scan that follows watches the new one
      told = 0;
      writeFileSync(join(dir, 'w/b.txt'), 'y');
      await settled();
      expect(told).toBeGreaterThan(0);
    } finally {
      w.close();
    }
  });
});
