import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointNumber, checkpointsIn, newestFirst } from '../../agent/checkpoint/checkpoints.ts';
import { convergePick, setRestartFlag } from '../../agent/checkpoint/converge.ts';
import { compileGlob } from '../../agent/glob.ts';
import { profileForSolver, resolveProfile } from '../../agent/checkpoint/profiles.ts';
import { FerryError } from '../../agent/errors.ts';

const work = mkdtempSync(join(tmpdir(), 'ferry-checkpoint-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The FerryError `fn` throws (the test fails when it throws none, or something else). */
function refusal(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    return err as FerryError;
  }
  throw new Error('expected a FerryError');
}

async function refusalOf(p: Promise<unknown>): Promise<FerryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  return err as FerryError;
}

describe('compileGlob', () => {
  const cases: Array<[string, string, boolean]> = [
    ['restart*.rst', 'restart0004.rst', true],
    ['restart*.rst', 'restart.rst', true],
    ['restart*.rst', 'sub/restart0004.rst', false],
    ['restart*.rst', 'restart0004.rst.tmp', false],
    ['*.rst', '.hidden.rst', true],
    ['restart????.rst', 'restart0004.rst', true],
    ['restart????.rst', 'restart04.rst', false],
    ['restart[0-9]*.rst', 'restart7.rst', true],
    ['restart[0-9]*.rst', 'restart_7.rst', false],
    ['restart[!_]*', 'restart_7.rst', false],
    ['restart[^_]*', 'restartx', true],
    ['[]x]', ']', true],
    ['a[-z]', 'a-', true],
    ['**/*.h5', 'chk.h5', true],
    ['**/*.h5', 'a/b/chk.h5', true],
    ['chk/**', 'chk/a/b', true],
    ['chk/**', 'chkx/a', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['a**b', 'a/b', false],
    ['a**b', 'axxb', true],
    ['*', 'a/b', false],
    ['?', '/', false],
    ['./restart*.rst', 'restart1.rst', true],
    ['file\\*.txt', 'file*.txt', true],
    ['file\\*.txt', 'fileX.txt', false],
    ['a.b', 'axb', false],
    ['(x)+', '(x)+', true],
  ];
  it.each(cases)('%s on %s: %s', (pattern, path, expected) => {
    expect(compileGlob(pattern, '--checkpoint-files').matches(path)).toBe(expected);
  });
  it('says whether a pattern reaches below the top level', () => {
    expect(compileGlob('restart*.rst', 'f').deep).toBe(false);
    expect(compileGlob('**', 'f').deep).toBe(true);
    expect(compileGlob('chk/*.h5', 'f').deep).toBe(true);
  });
  it('refuses broken patterns, naming the flag and the problem (exit 64)', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /the pattern is empty/],
      ['/abs/*.rst', /absolute path/],
      ['../x', /"\.\." segment/],
      ['a//b', /empty/],
      ['restart[0-9.rst', /"\[" has no closing "\]"/],
      ['[z-a]', /backwards/],
      ['x\\', /lone "\\"/],
      ['[a/b]', /cannot hold "\/"/],
    ];
    for (const [pattern, why] of bad) {
      const e = refusal(() => compileGlob(pattern, '--checkpoint-files'));
      expect(e.exitCode).toBe(64);
      expect(e.message).toMatch(/^--checkpoint-files '/);
      expect(e.message).toMatch(why);
      expect(e.hint).toContain('relative to the run directory');
    }
  });
});

describe('setRestartFlag', () => {
  const v3 = [
    'version: 3.1',
    '# restart_flag: 0   (a comment stays as it is)',
    'simulation_control:',
    '   restart_flag: 0   # 0 = no, 1 = yes',
    '   time_end: 1.0e-3',
    'output_control:',
    '   twrite_restart: 1.0e-4',
    '',
  ].join('\n');
  const v2 = [
    '2.4',
    '0            restart_flag         Restart from a restart file? (0 = no, 1 = yes)',
    '1            restart_type         Kind of restart',
    '1.0e-3       end_time             End time',
    '',
  ].join('\r\n');
  const kv = 'case_name rs\nrestart_flag  0\nsteps 8';

  it('sets restart_flag 1 in the layout it finds, every other byte as it was', () => {
    const a = setRestartFlag(v3);
    expect(a).toMatchObject({ layout: 'simulation_control', line: 4, added: false, changed: true });
    expect(a.text).toBe(v3.replace('   restart_flag: 0   #', '   restart_flag: 1   #'));
    const b = setRestartFlag(v2);
    expect(b).toMatchObject({ layout: 'value name', line: 2, added: false, changed: true });
    expect(b.text).toBe(v2.replace('0            restart_flag', '1            restart_flag'));
    const c = setRestartFlag(kv);
    expect(c).toMatchObject({ layout: 'name value', line: 2, changed: true });
    expect(c.text).toBe('case_name rs\nrestart_flag  1\nsteps 8');
  });
  it('keeps the columns after a longer value, and changes nothing when it is 1 already', () => {
    expect(setRestartFlag('00   restart_flag  x\n').text).toBe('1    restart_flag  x\n');
    expect(setRestartFlag('restart_flag 0.0 # no\n').text).toBe('restart_flag 1   # no\n');
    expect(setRestartFlag('simulation_control:\n  restart_flag:\n').text).toBe(
      'simulation_control:\n  restart_flag: 1\n',
    );
    const same = setRestartFlag(v3.replace('   restart_flag: 0', '   restart_flag: 1'));
    expect(same.changed).toBe(false);
  });
  it('adds the line in the layout of the file when there is none', () => {
    const y = setRestartFlag('version: 3.1\r\nsimulation_control:\r\n    time_end: 1.0\r\n');
    expect(y).toMatchObject({ layout: 'simulation_control', line: 3, added: true });
    expect(y.text).toBe('version: 3.1\r\nsimulation_control:\r\n    restart_flag: 1\r\n    time_end: 1.0\r\n');
    expect(setRestartFlag('version: 3.1\noutput_control:\n  a: 1').text).toBe(
      'version: 3.1\noutput_control:\n  a: 1\nsimulation_control:\n  restart_flag: 1\n',
    );
    expect(setRestartFlag('2.4\n1.0e-3       end_time   End\n8     steps\n').text).toBe(
      '2.4\n1.0e-3       end_time   End\n8     steps\n1            restart_flag\n',
    );
    expect(setRestartFlag('case_name rs\nsteps 8').text).toBe('case_name rs\nsteps 8\nrestart_flag 1\n');
    expect(setRestartFlag('').text).toBe('restart_flag 1\n');
  });
});

describe('profiles', () => {
  it('--checkpoint converge: RESTART, restart*.rst, newest by number then mtime', () => {
    const p = resolveProfile({ checkpoint: 'converge' })!;
    expect(p.name).toBe('converge');
    expect(p.trigger).toBe('RESTART');
    const files = new Map([
      ['restart0004.rst', { size: 4, mtimeMs: 1 }],
      ['restart0010.rst', { size: 10, mtimeMs: 0 }],
      ['restart.rst', { size: 1, mtimeMs: 9 }],
      ['restart002.rst', { size: 2, mtimeMs: 5 }],
      ['restart0002.rst', { size: 2, mtimeMs: 6 }],
      ['sub/restart0099.rst', { size: 99, mtimeMs: 9 }],
      ['output/rank_0.out', { size: 1, mtimeMs: 9 }],
    ]);
    expect(checkpointsIn(files, p).map((c) => c.path)).toEqual([
      'restart0010.rst',
      'restart0004.rst',
      'restart0002.rst',
      'restart002.rst',
      'restart.rst',
    ]);
    expect(checkpointNumber('chk/step_0042.h5')).toBe(42);
    expect(checkpointNumber('dir9/final.h5')).toBeUndefined();
    const same = { size: 1, mtimeMs: 1 };
    expect(newestFirst({ path: 'b1', ...same }, { path: 'a1', ...same })).toBeLessThan(0);
  });
  it('a custom profile from --checkpoint-files (and --checkpoint-trigger)', () => {
    const p = resolveProfile({ trigger: 'CHECKPOINT_NOW', files: 'chk/**/*.h5' })!;
    expect([p.name, p.trigger, p.files.pattern]).toEqual(['custom', 'CHECKPOINT_NOW', 'chk/**/*.h5']);
    expect(resolveProfile({ files: '*.chk' })!.trigger).toBeUndefined();
    expect(resolveProfile({})).toBeUndefined();
  });
  it('refuses unknown names (with the closest), mixtures, a trigger alone, a trigger that is a path', () => {
    const unknown = refusal(() => resolveProfile({ checkpoint: 'converg' }));
    expect(unknown.message).toBe("--checkpoint 'converg' is not a checkpoint profile (built in: converge)");
    expect(unknown.hint).toMatch(/^did you mean --checkpoint converge\?/);
    expect(refusal(() => resolveProfile({ checkpoint: 'fluent' })).hint).not.toMatch(/did you mean/);
    expect(refusal(() => resolveProfile({ checkpoint: 'converge', files: '*.rst' })).message).toMatch(/built-in/);
    expect(refusal(() => resolveProfile({ trigger: 'RESTART' })).message).toMatch(/needs --checkpoint-files/);
    for (const t of ['', '.', '..', 'dir/RESTART', '/abs'])
      expect(refusal(() => resolveProfile({ trigger: t, files: '*' })).message).toMatch(/is not a file name/);
    expect(refusal(() => resolveProfile({ files: '[' })).exitCode).toBe(64);
  });
  it('knows CONVERGE by its executable', () => {
    expect(profileForSolver('converge')).toBe('converge');
    expect(profileForSolver('/opt/converge/bin/CONVERGE-3.1')).toBe('converge');
    expect(profileForSolver('./run.sh')).toBeUndefined();
    expect(convergePick(['restart0004.rst', 'restart10.rst', 'restart_99.rst', 'x'])).toBe('restart10.rst');
    expect(convergePick(['restart002.rst', 'restart0004.rst'])).toBe('restart0004.rst'); // by number, not as text
    expect(convergePick(['restart0004.rst', 'restart.rst'])).toBe('restart.rst');
    expect(convergePick(['inputs.in'])).toBeUndefined();
  });
});

let n = 0;
function caseDir(files: Record<string, string>): string {
  const d = join(work, `case${++n}`);
  mkdirSync(d);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text, 'latin1');
  return d;
}
const bytesOf = (d: string) => Object.fromEntries(readdirSync(d).map((f) => [f, readFileSync(join(d, f), 'latin1')]));

describe('resume', () => {
  const inputs = 'case_name rs\n\xe9t\xe9 value\nsimulation_control:\n  restart_flag: 0\n';
  it('CONVERGE: restart_flag 1 in inputs.in (mode kept, other bytes too), FERRY_RESUMED_FROM', async () => {
    const d = caseDir({ 'inputs.in': inputs, 'restart0002.rst': 'a', 'restart0004.rst': 'b', 'surface.dat': 's' });
    chmodSync(join(d, 'inputs.in'), 0o640);
    const before = bytesOf(d);
    const r = await resolveProfile({ checkpoint: 'converge' })!.resume(d, 'restart0004.rst');
    expect(r.env).toEqual({ FERRY_RESUMED_FROM: join(d, 'restart0004.rst') });
    expect(r.changes).toEqual(['inputs.in line 4: restart_flag 1 (simulation_control layout)']);
    expect(bytesOf(d)).toEqual({ ...before, 'inputs.in': inputs.replace('restart_flag: 0', 'restart_flag: 1') });
    expect(statSync(join(d, 'inputs.in')).mode & 0o777).toBe(0o640);
  });
  it('CONVERGE: refused when it would start from another restart file, or there is no inputs.in', async () => {
    const profile = resolveProfile({ checkpoint: 'converge' })!;
    const d = caseDir({ 'inputs.in': inputs, 'restart.rst': 'x', 'restart0004.rst': 'b' });
    const before = bytesOf(d);
    const other = await refusalOf(profile.resume(d, 'restart0004.rst'));
    expect(other.message).toBe('CONVERGE would resume from restart.rst, not from restart0004.rst');
    expect(other.exitCode).toBe(65);
    expect(bytesOf(d)).toEqual(before);
    const noInputs = await refusalOf(profile.resume(caseDir({ 'restart0001.rst': 'a' }), 'restart0001.rst'));
    expect(noInputs.message).toMatch(/resumes through inputs\.in, and the run directory has none/);
    const missing = await refusalOf(profile.resume(caseDir({ 'inputs.in': inputs }), 'restart0001.rst'));
    expect(missing.message).toMatch(/checkpoint to resume from is not in the run directory/);
    const custom = resolveProfile({ files: '**' })!;
    for (const outside of ['../case1/inputs.in', join(work, 'case1/inputs.in')])
      expect((await refusalOf(custom.resume(caseDir({}), outside))).message).toMatch(/must stay inside the run/);
  });
  it('custom: FERRY_RESUMED_FROM only, nothing in the run directory changed', async () => {
    const d = caseDir({ 'inputs.in': inputs, 'step_0042.h5': 'c' });
    const before = bytesOf(d);
    const r = await resolveProfile({ files: '*.h5' })!.resume(d, 'step_0042.h5');
    expect(r).toEqual({ env: { FERRY_RESUMED_FROM: join(d, 'step_0042.h5') }, changes: [] });
    expect(bytesOf(d)).toEqual(before);
  });
});
