import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig, type StartedFerry } from '../helpers/ferry.ts';
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
    expect(during).toEqual(['out/out/early.dat', 'out/scratch.tmp']);
    expect((await getBytes(admin, BUCKET, 'out/out/early.dat')).toString()).toBe('v1\n');
    writeFileSync(gate, '');
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    // After the solver: early.dat changed (sent again), scratch.tmp deleted (removed from S3), late.dat new.
    const final = ['out/_SUCCESS', 'out/_manifest.json', 'out/out/early.dat', 'out/out/late.dat'];
    expect(await keysUnder('out/')).toEqual(final);
    expect((await getBytes(admin, BUCKET, 'out/out/early.dat')).toString()).toBe('v2-longer\n');
    expect((await getBytes(admin, BUCKET, 'out/out/late.dat')).toString()).toBe('late\n');
    expect(readdirSync(dir)).toEqual(['ferry.log']);
  });

  it('--no-live-upload uploads only after the solver exits', async () => {
    const dir = tempDir('nolive');
    writeAwsConfig(dir, s3);
    await emptyPrefix(admin, BUCKET, 'out2/');
    const r = await ferry(
      ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/out2/`, '--no-live-upload', '--no-mpi', '--', 'sh', '-c', 'echo a > a.out; sleep 1; echo b > b.out'],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).not.toContain('uploaded while the solver ran');
    expect([...(await listAll(admin, BUCKET, 'out2/')).keys()].sort()).toEqual(['out2/_SUCCESS', 'out2/_manifest.json', 'out2/a.out', 'out2/b.out']);
  });
});
