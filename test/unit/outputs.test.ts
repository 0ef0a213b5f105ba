import { mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanTree, selectOutputs } from '../../agent/rundir/tree.ts';

describe('output selection', () => {
  it('uploads created and changed files, not untouched inputs; --upload-all takes everything', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ferry-out-'));
    writeFileSync(join(d, 'inputs.in'), 'a');
    writeFileSync(join(d, 'surface.dat'), 'geometry');
    writeFileSync(join(d, 'restart.rst'), 'r0');
    const before = await scanTree(d);
    mkdirSync(join(d, 'output'));
    writeFileSync(join(d, 'output/rank_0.out'), 'x');
    writeFileSync(join(d, 'restart.rst'), 'r1'); // same size, new content and mtime
    utimesSync(join(d, 'restart.rst'), new Date(), new Date(Date.now() + 5000));
    const after = await scanTree(d);
    expect(selectOutputs(before.files, after.files, false).map((f) => f.rel)).toEqual([
      'output/rank_0.out',
      'restart.rst',
    ]);
    expect(selectOutputs(before.files, after.files, true).map((f) => f.rel)).toEqual([
      'inputs.in',
      'output/rank_0.out',
      'restart.rst',
      'surface.dat',
    ]);
  });
  it('never follows symbolic links and leaves out skipped names', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ferry-out-'));
    writeFileSync(join(d, 'ferry.log'), 'log');
    writeFileSync(join(d, 'result.dat'), 'r');
    symlinkSync('/etc', join(d, 'etc-link'));
    symlinkSync('/etc/hostname', join(d, 'host-link'));
    const scan = await scanTree(d, (rel) => rel === 'ferry.log');
    expect([...scan.files.keys()]).toEqual(['result.dat']);
    expect(scan.symlinks).toEqual(['etc-link', 'host-link']);
  });
});
