import { describe, expect, it } from 'vitest';
import type { FileState } from '../../agent/rundir/tree.ts';
import { planWipe, type Accounts } from '../../agent/rundir/wipe.ts';

const st = (size: number, t: number, ino = 1): FileState => ({ size, mtimeMs: t, ctimeMs: t, ino });

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
