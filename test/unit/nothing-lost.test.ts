import { describe, expect, it } from 'vitest';
import { positiveInt } from '../../agent/flags/values.ts';
import { Masker } from '../../agent/secrets.ts';
import { overlaps } from '../../agent/location.ts';
import { planWipe, type Accounts } from '../../agent/rundir/wipe.ts';
import type { FileState } from '../../agent/rundir/tree.ts';

const st = (size: number, t: number, ino = 1): FileState => ({ size, mtimeMs: t, ctimeMs: t, ino });

describe('Masker', () => {
  it('replaces every secret, its percent-encoded and decoded forms, longest first; ignores short values', () => {
    const m = new Masker();
    m.add('s3cr3t-key', 'p%40ss:word', 'ab', undefined);
    expect(m.mask('k=s3cr3t-key p=p@ss:word e=p%40ss%3Aword ab')).toBe('k=*** p=*** e=*** ab');
  });
  it('never cuts inside a secret, and holds back what may be the start of one', () => {
    const m = new Masker();
    m.add('SECRETVALUE');
    const text = 'xxxxxSECRETVALUEyyyyyyyyyyyyyyyyyyyy';
    expect(m.safeCut(text, 8)).toBe(16); // would cut inside the secret: moved past it
    expect(m.safeCut('abcdefSECRE', 100)).toBe(1); // the last 10 characters may be a secret arriving
    expect(new Masker().safeCut('abc', 2)).toBe(2);
  });
});

describe('overlaps', () => {
  it('is true for the same bucket when one key starts with the other, false otherwise', () => {
    const u = (bucket: string, key: string) => ({ scheme: 's3' as const, bucket, key });
    expect(overlaps(u('b', 'in/'), u('b', 'in/'))).toBe(true);
    expect(overlaps(u('b', 'in/out/'), u('b', 'in/'))).toBe(true);
    expect(overlaps(u('b', 'in/'), u('b', 'in/case.zip'))).toBe(true);
    expect(overlaps(u('b', ''), u('b', 'x'))).toBe(true);
    expect(overlaps(u('b', 'in2/'), u('b', 'in/'))).toBe(false);
    expect(overlaps(u('b', 'in/case/'), u('b', 'in/case.zip'))).toBe(false);
    expect(overlaps(u('c', 'in/'), u('b', 'in/'))).toBe(false);
  });
});

describe('positiveInt', () => {
  it('takes whole numbers in range, refuses the rest with the limit named', () => {
    expect(positiveInt('8', '--np')).toBe(8);
    for (const bad of ['0', '-1', '2.5', '1e3', '99999999999999999999', '1000001', 'x'])
      expect(() => positiveInt(bad, '--np')).toThrow(/--np must be a whole number from 1 to 1000000/);
    expect(() => positiveInt('101', '--retries', 100)).toThrow(/from 1 to 100/);
  });
});

describe('planWipe', () => {
  const base = (): Accounts => ({
    scan: { files: new Map(), dirs: [], symlinks: [], badNames: [] },
    inputs: new Map(),
    uploaded: new Map(),
    named: new Set(),
    preFiles: new Map(),
    preDirs: new Set(),
    notUploaded: new Map(),
  });
  it(
    "deletes unchanged inputs, outputs as uploaded, named job inputs and ferry's own files; keeps the rest with a " +
      'reason',
    () => {
      const a = base();
      a.scan.files = new Map([
        ['inputs.in', st(5, 1)],
        ['out/r.txt', st(9, 2)],
        ['out/changed.txt', st(9, 3)],
        ['config', st(50, 4)],
        ['.ferry-state.json', st(1, 5)],
        ['ferry.log', st(1, 6)],
        ['.ferry-lock', st(1, 7)],
        ['notes.txt', st(3, 8)],
        ['edited.in', st(6, 9, 2)],
        ['_SUCCESS', st(0, 10)],
      ]);
      a.scan.dirs = ['out', 'old'];
      a.scan.symlinks = ['link'];
      a.scan.badNames = ['bad\\xff'];
      a.inputs = new Map([
        ['inputs.in', st(5, 1)],
        ['edited.in', st(6, 9, 1)],
      ]); // edited.in: same size and times, another inode
      a.uploaded = new Map([
        ['out/r.txt', st(9, 2)],
        ['out/changed.txt', st(8, 3)],
      ]);
      a.named = new Set(['config']);
      a.preFiles = new Map([['notes.txt', st(3, 8)]]);
      a.preDirs = new Set(['old']);
      a.notUploaded = new Map([['bad\\xff', 'its name is not valid UTF-8']]);
      const plan = planWipe(a);
      expect([...plan.remove.keys()].sort()).toEqual(['.ferry-state.json', 'config', 'inputs.in', 'out/r.txt']);
      expect(plan.remove.get('out/r.txt')).toEqual(st(9, 2));
      expect(plan.dirs).toEqual(['out']);
      expect(Object.fromEntries(plan.kept.map((k) => [k.path, k.reason]))).toEqual({
        _SUCCESS: "its name is reserved for ferry's own object in the output prefix",
        'bad\\xff': 'its name is not valid UTF-8',
        'edited.in': 'not created by this run, or changed since ferry last saw it',
        link: 'a symbolic link (never followed or uploaded)',
        'notes.txt': 'was in the run directory before ferry started',
        'out/changed.txt': 'changed after its upload',
      });
    },
  );
});
