// The stand-in solver's restart behaviour (fixtures/solver/fake-converge.c), under real Open MPI.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { findMarked, killTree } from '../../agent/solver/process-tree.ts';
import { openForWriting, processAndDescendants } from '../../agent/solver/writers.ts';
import { compileFakeConverge, expectedOutputs, readStepLedger, restartFileBytes } from '../helpers/solver.ts';

const work = mkdtempSync(join(tmpdir(), 'ferry-fake-converge-'));
const MARK = `fake-converge-test-${process.pid}`;
let bin: string;
beforeAll(() => {
  bin = compileFakeConverge(work);
});
afterEach(() => {
  for (const p of findMarked('FERRY_TEST_MARK', MARK)) killTree(p.pid, 'SIGKILL');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const OUTPUTS = ['output/rank_0.out', 'output/rank_1.out', 'output/summary.out', 'post/volume.bin'];
/** The case every test runs: 8 steps, a restart file every 2, a 3 KiB post/volume.bin. */
const CASE = 'case_name rs\nsteps 8\nrestart_every 2\nvolume_kib 3\nsleep_ms 20\nrestart_kib 2\nrestart_write_ms 40\n';

let dirs = 0;
/** A fresh run directory with surface.dat, this inputs.in and copies of `restarts` (from `from`). */
function runDir(inputs: string, from?: string, restarts: Record<string, string> = {}): string {
  const d = join(work, `run${++dirs}`);
  mkdirSync(d);
  writeFileSync(join(d, 'surface.dat'), 'geometry\n');
  writeFileSync(join(d, 'inputs.in'), inputs);
  for (const [to, name] of Object.entries(restarts)) copyFileSync(join(from!, name), join(d, to));
  return d;
}

function start(dir: string, ledger: string): ResultPromise<{ reject: false }> {
  return execa('mpirun', ['-np', '2', bin, 'super'], {
    cwd: dir,
    reject: false,
    env: {
      OMPI_ALLOW_RUN_AS_ROOT: '1',
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
      OMPI_MCA_rmaps_base_oversubscribe: '1',
      FAKE_CONVERGE_STEP_LEDGER: ledger,
      FERRY_TEST_MARK: MARK,
    },
  });
}

const steps = (ledger: string) => readStepLedger(ledger).map((a) => a.steps);
const outputsOf = (dir: string) => OUTPUTS.map((f) => readFileSync(join(dir, f)));

/** The uninterrupted run every resumed one is compared with. */
let whole: string;
beforeAll(async () => {
  whole = runDir(CASE);
  const ledger = join(work, 'whole.ledger');
  const r = await start(whole, ledger);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(steps(ledger)).toEqual([[1, 2, 3, 4, 5, 6, 7, 8]]);
});

describe('fake-converge restarts', () => {
  it('writes a restart file every restart_every steps, outputs as before', () => {
    const expected = expectedOutputs('rs', 2, 8, 3);
    for (const f of OUTPUTS) expect(readFileSync(join(whole, f)).equals(expected.get(f)!), f).toBe(true);
    const restarts = readdirSync(whole).filter((f) => f.endsWith('.rst'));
    expect(restarts.sort()).toEqual(['restart0002.rst', 'restart0004.rst', 'restart0006.rst', 'restart0008.rst']);
    expect(readFileSync(join(whole, 'restart0004.rst')).equals(restartFileBytes('rs', 2, 4, 2))).toBe(true);
  });

  it('killed after a restart file and resumed, ends with the uninterrupted outputs byte for byte', async () => {
    const d = runDir(`${CASE}hold_file hold\nhold_step 5\n`);
    writeFileSync(join(d, 'hold'), '');
    const ledger = join(work, 'killed.ledger');
    const first = start(d, ledger);
    // Step 5 is computed (restart0004.rst written at the end of step 4) and the solver waits on `hold`.
    await vi.waitFor(() => expect(steps(ledger).flat()).toContain(5), { timeout: 60_000, interval: 50 });
    killTree(first.pid!, 'SIGKILL');
    await first;
    expect(findMarked('FERRY_TEST_MARK', MARK)).toEqual([]);
    expect(readFileSync(join(d, 'output/rank_0.out'), 'utf8').split('\n').length - 1).toBe(5);
    expect(existsSync(join(d, 'output/summary.out'))).toBe(false);
    rmSync(join(d, 'hold'));
    writeFileSync(join(d, 'inputs.in'), `${readFileSync(join(d, 'inputs.in'), 'utf8')}restart_flag 1\n`);
    const second = await start(d, ledger);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toContain('restarting from restart0004.rst at step 4');
    expect(outputsOf(d)).toEqual(outputsOf(whole));
    // Steps computed across both attempts: the total plus the one past the checkpoint.
    expect(steps(ledger)).toEqual([
      [1, 2, 3, 4, 5],
      [5, 6, 7, 8],
    ]);
  });

  const layouts: Array<[string, string]> = [
    ['key value', 'restart_flag 1\n'],
    ['CONVERGE 2.x value key', '1        restart_flag      Restart from a restart file? (0 = no, 1 = yes)\n'],
    ['CONVERGE 3 simulation_control block', 'simulation_control:\n   restart_flag: 1\n   time_end: 1.0\n'],
  ];
  it.each(layouts)('resumes from the highest-numbered restart file, restart_flag in the %s layout', async (_, flag) => {
    // restart002.rst sorts after restart0004.rst as text: the number decides.
    const files = { 'restart002.rst': 'restart0002.rst', 'restart0004.rst': 'restart0004.rst' };
    const d = runDir(CASE + flag, whole, files);
    const ledger = `${d}.ledger`;
    const r = await start(d, ledger);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(steps(ledger)).toEqual([[5, 6, 7, 8]]);
    expect(outputsOf(d)).toEqual(outputsOf(whole));
  });

  it('prefers restart.rst, and starts from step 1 when restart_flag is 0', async () => {
    const d = runDir(`${CASE}restart_flag 1\n`, whole, {
      'restart.rst': 'restart0002.rst',
      'restart0006.rst': 'restart0006.rst',
    });
    const r = await start(d, `${d}.ledger`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(steps(`${d}.ledger`)).toEqual([[3, 4, 5, 6, 7, 8]]);
    expect(outputsOf(d)).toEqual(outputsOf(whole));
    const fresh = runDir(`${CASE}simulation_control:\n  restart_flag: 0\n`, whole, {
      'restart0006.rst': 'restart0006.rst',
    });
    expect((await start(fresh, `${fresh}.ledger`)).exitCode).toBe(0);
    expect(steps(`${fresh}.ledger`)).toEqual([[1, 2, 3, 4, 5, 6, 7, 8]]);
  });

  it('writes a restart file at the end of the step in which RESTART appears, then deletes RESTART', async () => {
    const d = runDir('case_name rs\nsteps 3\nsleep_ms 20\nrestart_kib 2\nhold_file hold\nhold_step 1\n');
    writeFileSync(join(d, 'hold'), '');
    const ledger = `${d}.ledger`;
    const run = start(d, ledger);
    await vi.waitFor(() => expect(steps(ledger).flat()).toContain(1), { timeout: 60_000, interval: 50 });
    writeFileSync(join(d, 'RESTART'), '');
    rmSync(join(d, 'hold'));
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(d, 'RESTART'))).toBe(false);
    expect(readdirSync(d).filter((f) => f.endsWith('.rst'))).toEqual(['restart0001.rst']);
    expect(readFileSync(join(d, 'restart0001.rst')).equals(restartFileBytes('rs', 2, 1, 2))).toBe(true);
  });

  it('holds a restart file open for writing while it writes it; resuming from a cut one fails loudly', async () => {
    const d = runDir('case_name rs\nsteps 4\nrestart_every 1\nrestart_kib 8\nrestart_write_ms 4000\n');
    const run = start(d, `${d}.ledger`);
    await vi.waitFor(
      () => expect(openForWriting(d, processAndDescendants(run.pid!)).paths).toContain('restart0001.rst'),
      { timeout: 60_000, interval: 20 },
    );
    killTree(run.pid!, 'SIGKILL');
    await run;
    const cut = readFileSync(join(d, 'restart0001.rst'));
    expect(cut.length).toBeLessThan(restartFileBytes('rs', 2, 1, 8).length);
    writeFileSync(join(d, 'inputs.in'), 'case_name rs\nsteps 4\nrestart_flag 1\n');
    const r = await start(d, `${d}.ledger`);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot restart from restart0001\.rst: it is incomplete or corrupt/);
    expect(existsSync(join(d, 'output/summary.out'))).toBe(false);
  });

  it('refuses restart_flag 1 without a restart file, and a restart file of another case', async () => {
    const none = runDir('case_name rs\nsteps 4\n1 restart_flag\n');
    const r = await start(none, `${none}.ledger`);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('restart_flag is 1 but there is no restart.rst or restart*.rst in the run directory');
    const other = runDir('case_name other\nsteps 8\nrestart_flag 1\n', whole, { 'restart0004.rst': 'restart0004.rst' });
    const o = await start(other, `${other}.ledger`);
    expect(o.exitCode).toBe(2);
    expect(o.stderr).toContain('cannot restart from restart0004.rst: it was written for case rs, this is case other');
    expect(steps(`${other}.ledger`)).toEqual([]);
  });
});
