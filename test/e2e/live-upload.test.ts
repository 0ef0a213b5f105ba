import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, startFerry, tempDir, writeAwsConfig, type StartedFerry } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// Each solver here waits for a gate file that only the test creates, after it has listed S3: what
// the test sees in S3 before it opens the gate, it saw while the solver was still running. (A solver
// that gives up waiting writes <gate>.expired first: the test checks that none did.)
const BUCKET = 'ferry-live';
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

const keysUnder = async (prefix: string) => [...(await listAll(admin, BUCKET, prefix)).keys()].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `done` (which lists S3) every 100 ms until it is true; false if a ferry run exited first. */
async function whileRunning(runs: StartedFerry[], done: () => Promise<boolean>): Promise<boolean> {
  for (;;) {
    if (await done()) return true;
    if (!runs.every((r) => r.running())) return false;
    await sleep(100);
  }
}

function runArgs(out: string, extra: string[], solver: string[]): string[] {
  const io = ['--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/${out}/`];
  return ['run', '--aws-config', 'config', ...io, ...extra, '--no-mpi', '--', ...solver];
}

describe('ferry run --settle 0.5 (live upload while the solver runs)', () => {
  it('uploads settled files during the run, re-uploads a changed one, removes a deleted one', async () => {
    const dir = tempDir('live');
    writeAwsConfig(dir, s3);
    copyFileSync(join(ROOT, 'fixtures/solver/live-writer.sh'), join(dir, 'live-writer.sh'));
    const gate = join(tempDir('gate'), 'open');
    const args = runArgs('out', ['--settle', '0.5'], ['./live-writer.sh', gate]);
    const run = startFerry(args, { cwd: dir, env: cleanEnv() });
    let during: string[] = [];
    const seen = await whileRunning([run], async () => {
      during = await keysUnder('out/');
      return during.includes('out/out/early.dat') && during.includes('out/scratch.tmp');
    });
    expect(seen, `early.dat and scratch.tmp in S3 while the solver waits (saw: ${during})`).toBe(true);
    expect(existsSync(`${gate}.expired`), 'the solver was still waiting').toBe(false);
    expect(during).not.toContain('out/out/late.dat');
    expect((await getBytes(admin, BUCKET, 'out/out/early.dat')).toString()).toBe('v1\n');
    writeFileSync(gate, '');
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    // After the solver: early.dat changed (sent again), scratch.tmp deleted (removed from S3), late.dat new.
    const final = ['out/_SUCCESS', 'out/_ferry.log', 'out/_manifest.json', 'out/out/early.dat', 'out/out/late.dat'];
    expect(await keysUnder('out/')).toEqual(final);
    expect((await getBytes(admin, BUCKET, 'out/out/early.dat')).toString()).toBe('v2-longer\n');
    expect((await getBytes(admin, BUCKET, 'out/out/late.dat')).toString()).toBe('late\n');
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'live-writer.sh']); // the script was there before ferry
  });

  it('--no-live-upload uploads only after the solver exits', async () => {
    // Two rows side by side with --settle 0.5, their solvers held at one gate: the control uploads
    // live, so its files show up in S3 while its solver waits; the other row's prefix must stay
    // empty meanwhile, and for as long again after the control's upload arrived.
    await emptyPrefix(admin, BUCKET, 'nolive/');
    await emptyPrefix(admin, BUCKET, 'control/');
    const gate = join(tempDir('gate'), 'open');
    const expire = `{ touch '${gate}.expired'; exit 9; }`;
    const wait = `i=0; until [ -e '${gate}' ]; do i=$((i+1)); [ $i -lt 600 ] || ${expire}; sleep 0.1; done`;
    const held = ['sh', '-c', `echo a > a.out; echo b > b.out; ${wait}`];
    const start = (out: string, extra: string[]) => {
      const dir = tempDir(out);
      writeAwsConfig(dir, s3);
      const run = startFerry(runArgs(out, ['--settle', '0.5', ...extra], held), { cwd: dir, env: cleanEnv() });
      return { dir, run };
    };
    const nolive = start('nolive', ['--no-live-upload']);
    const control = start('control', []);
    const runs = [nolive.run, control.run];
    const early: string[] = [];
    const t0 = Date.now();
    let arrived = 0;
    let polls = 0;
    const ok = await whileRunning(runs, async () => {
      early.push(...(await keysUnder('nolive/')));
      polls++;
      if (!arrived && (await keysUnder('control/')).includes('control/b.out')) arrived = Date.now() - t0;
      return arrived > 0 && Date.now() - t0 >= 2 * arrived && existsSync(join(nolive.dir, 'b.out'));
    });
    expect(ok, 'the control row uploaded while its solver waited').toBe(true);
    expect(existsSync(`${gate}.expired`), 'the solvers were still waiting').toBe(false);
    expect(polls).toBeGreaterThan(5);
    // (ferry may keep objects of its own there, such as a lease: only the outputs count here)
    const outputs = early.filter((k) => k === 'nolive/a.out' || k === 'nolive/b.out');
    expect(outputs, 'outputs in S3 before the --no-live-upload solver ended').toEqual([]);
    writeFileSync(gate, '');
    for (const { run } of [nolive, control]) {
      const r = await run.result;
      expect(r.exitCode, r.all).toBe(0);
    }
    const final = ['_SUCCESS', '_ferry.log', '_manifest.json', 'a.out', 'b.out'];
    expect(await keysUnder('nolive/')).toEqual(final.map((k) => `nolive/${k}`));
    expect(await keysUnder('control/')).toEqual(final.map((k) => `control/${k}`));
  });
});
