// Asking a real solver (fake-converge under Open MPI) for a checkpoint and waiting for it.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestCheckpoint, waitForCheckpoint, type CheckpointFile } from '../../agent/checkpoint/checkpoints.ts';
import { resolveProfile, type CheckpointProfile } from '../../agent/checkpoint/profiles.ts';
import { findMarked, killTree } from '../../agent/solver/process-tree.ts';
import { scanTree } from '../../agent/rundir/tree.ts';
import { processAndDescendants } from '../../agent/solver/writers.ts';
import { compileFakeConverge, readStepLedger, restartFileBytes } from '../helpers/solver.ts';

const work = mkdtempSync(join(tmpdir(), 'ferry-checkpoint-wait-'));
const MARK = `checkpoint-wait-test-${process.pid}`;
let bin: string;
beforeAll(() => {
  bin = compileFakeConverge(work);
});
afterEach(() => {
  for (const p of findMarked('FERRY_TEST_MARK', MARK)) killTree(p.pid, 'SIGKILL');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
function runDir(inputs: string): string {
  const d = join(work, `run${++n}`);
  mkdirSync(d);
  writeFileSync(join(d, 'surface.dat'), 'geometry\n');
  writeFileSync(join(d, 'inputs.in'), inputs);
  return d;
}

function solver(dir: string): ResultPromise<{ reject: false }> {
  return execa('mpirun', ['-np', '2', bin, 'super'], {
    cwd: dir,
    reject: false,
    env: {
      OMPI_ALLOW_RUN_AS_ROOT: '1',
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
      OMPI_MCA_rmaps_base_oversubscribe: '1',
      FAKE_CONVERGE_STEP_LEDGER: `${dir}.ledger`,
      FERRY_TEST_MARK: MARK,
    },
  });
}

const waitFor = (
  d: string,
  profile: CheckpointProfile,
  pid: number | undefined,
  more: { timeoutMs?: number; pollMs?: number } = {},
) =>
  waitForCheckpoint({
    runDir: d,
    profile,
    before: [],
    scan: async () => (await scanTree(d)).files,
    pids: () => (pid === undefined ? [] : processAndDescendants(pid)),
    timeoutMs: 120_000,
    pollMs: 100,
    ...more,
  });

describe('waitForCheckpoint', { timeout: 120_000 }, () => {
  it('gets the checkpoint CONVERGE writes when asked by RESTART, once it is whole', async () => {
    const d = runDir('case_name w\nsteps 3\nrestart_kib 8\nrestart_write_ms 1200\nhold_file hold\nhold_step 1\n');
    writeFileSync(join(d, 'hold'), '');
    const run = solver(d);
    await vi.waitFor(() => expect(readStepLedger(`${d}.ledger`).length).toBe(1), { timeout: 60_000, interval: 50 });
    const profile = resolveProfile({ checkpoint: 'converge' })!;
    expect(await requestCheckpoint(d, profile)).toBe(true);
    expect(existsSync(join(d, 'RESTART'))).toBe(true);
    rmSync(join(d, 'hold'));
    const got = (await waitFor(d, profile, run.pid)) as CheckpointFile;
    expect(got.path).toBe('restart0001.rst');
    expect(readFileSync(join(d, got.path)).equals(restartFileBytes('w', 2, 1, 8))).toBe(true);
    expect(got.size).toBe(restartFileBytes('w', 2, 1, 8).length);
    expect((await run).exitCode).toBe(0);
  });

  it('without a trigger: the first new periodic checkpoint, never one still being written', async () => {
    const d = runDir('case_name w\nsteps 4\nrestart_every 2\nrestart_kib 16\nrestart_write_ms 2000\n');
    const run = solver(d);
    const profile = resolveProfile({ files: 'restart*.rst' })!;
    expect(await requestCheckpoint(d, profile)).toBe(false);
    const got = (await waitFor(d, profile, run.pid)) as CheckpointFile;
    expect(got.path).toBe('restart0002.rst');
    expect(readFileSync(join(d, got.path)).equals(restartFileBytes('w', 2, 2, 16))).toBe(true);
    await run;
  });

  it('waits until the file holds still, for a writer that closes it between pieces', async () => {
    const d = runDir('');
    const piece = 'x'.repeat(1000);
    const writer = `const fs = require('fs'); let i = 0;
      const t = setInterval(() => { fs.appendFileSync('restart0001.rst', ${JSON.stringify(piece)});
        if (++i === 40) clearInterval(t); }, 20);`;
    const w = spawn(process.execPath, ['-e', writer], { cwd: d, env: { FERRY_TEST_MARK: MARK } });
    const profile = resolveProfile({ files: 'restart*.rst' })!;
    const got = await waitFor(d, profile, w.pid, { pollMs: 500 });
    expect(got?.size).toBe(40 * piece.length);
  });

  it('gives up within its bound when nobody takes the trigger, and removes the trigger', async () => {
    const d = runDir('');
    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { FERRY_TEST_MARK: MARK } });
    const profile = resolveProfile({ checkpoint: 'converge' })!;
    await requestCheckpoint(d, profile);
    expect(await waitFor(d, profile, idle.pid, { timeoutMs: 800 })).toBeUndefined();
    expect(existsSync(join(d, 'RESTART'))).toBe(false);
    // No process left: nothing will write a checkpoint, so there is no waiting for the bound.
    await requestCheckpoint(d, profile);
    expect(await waitFor(d, profile, undefined, { timeoutMs: 3_600_000 })).toBeUndefined();
    expect(existsSync(join(d, 'RESTART'))).toBe(false);
    idle.kill('SIGKILL');
  });

  it('refuses a trigger name the case uses for a file with content, and never removes that file', async () => {
    const d = runDir('case_name w\n');
    const profile = resolveProfile({ trigger: 'inputs.in', files: '*.chk' })!;
    await expect(requestCheckpoint(d, profile)).rejects.toMatchObject({
      exitCode: 64,
      message: 'the checkpoint trigger inputs.in is in the run directory already, and is not empty',
    });
    expect(await waitFor(d, profile, undefined, { timeoutMs: 300 })).toBeUndefined();
    expect(readFileSync(join(d, 'inputs.in'), 'utf8')).toBe('case_name w\n');
  });

  it('stops on its signal and removes the trigger', async () => {
    const d = runDir('');
    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { FERRY_TEST_MARK: MARK } });
    const profile = resolveProfile({ checkpoint: 'converge' })!;
    await requestCheckpoint(d, profile);
    const ac = new AbortController();
    const waiting = waitForCheckpoint({
      runDir: d,
      profile,
      before: [],
      scan: async () => (await scanTree(d)).files,
      pids: () => {
        ac.abort();
        return [idle.pid!];
      },
      timeoutMs: 3_600_000,
      signal: ac.signal,
    });
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(existsSync(join(d, 'RESTART'))).toBe(false);
    idle.kill('SIGKILL');
  });
});
