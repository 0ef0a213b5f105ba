import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { isWrite, startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// Each solver here waits for a gate file that only the test creates, after it has listed S3: what
// the test sees in S3 before it opens the gate, it saw while the solver was still running. (A solver
// that gives up waiting writes <gate>.expired first: the test checks that none did.)
const BUCKET = bucketFor('ferry-live');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

const keysUnder = async (prefix: string) => [...(await listAll(admin, BUCKET, prefix)).keys()].sort();

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
    const seen = async () => {
      during = await keysUnder('out/');
      return during.includes('out/out/early.dat') && during.includes('out/scratch.tmp');
    };
    await waitFor('early.dat and scratch.tmp in S3 while the solver waits', seen, { alive: run.running, everyMs: 100 });
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
    // Two rows side by side through one front of ours, their solvers held at one gate: the control
    // uploads live, so its PUT of b.out comes while its solver waits. Both renew their lease every
    // second (a 1 s TTL): each renewal is a request that shows a ferry still at work. Once the control's
    // upload came and the other row has renewed twice since, the gate opens; judged from the requests,
    // no output of the --no-live-upload row was sent before that.
    await emptyPrefix(admin, BUCKET, 'nolive/');
    await emptyPrefix(admin, BUCKET, 'control/');
    const front = await startRecorder(s3.endpoint);
    const gate = join(tempDir('gate'), 'open');
    const expire = `{ touch '${gate}.expired'; exit 9; }`;
    const wait = `i=0; until [ -e '${gate}' ]; do i=$((i+1)); [ $i -lt 1200 ] || ${expire}; sleep 0.1; done`;
    const held = ['sh', '-c', `echo a > a.out; echo b > b.out; ${wait}`];
    const env = cleanEnv({ FERRY_LEASE_TTL_SECONDS: '1' });
    const start = (out: string, extra: string[]) => {
      const dir = tempDir(out);
      writeAwsConfig(dir, { ...s3, endpoint: front.url });
      return startFerry(runArgs(out, ['--settle', '0.5', ...extra], held), { cwd: dir, env });
    };
    const nolive = start('nolive', ['--no-live-upload']);
    const control = start('control', []);
    try {
      const writes = (key: string) =>
        front.requests.filter((q) => isWrite(q) && q.path.split('?')[0] === `/${BUCKET}/${key}`);
      const both = () => nolive.running() && control.running();
      await waitFor('the live upload of control/b.out', () => writes('control/b.out').some((q) => q.answered), {
        alive: both,
      });
      const uploaded = Math.min(...writes('control/b.out').map((q) => q.answered!));
      const renewals = () => writes('nolive/_ferry.lease').filter((q) => q.seq > uploaded).length;
      await waitFor('two lease renewals of the --no-live-upload row', () => renewals() >= 2, { alive: both });
      expect(existsSync(`${gate}.expired`), 'the solvers were still waiting').toBe(false);
      const opened = front.mark();
      writeFileSync(gate, '');
      for (const run of [nolive, control]) {
        const r = await run.result;
        expect(r.exitCode, r.all).toBe(0);
      }
      for (const f of ['a.out', 'b.out']) {
        const sent = writes(`nolive/${f}`).map((q) => q.seq);
        expect(sent.length, `nolive/${f} was sent`).toBeGreaterThan(0);
        expect(
          sent.filter((seq) => seq < opened),
          `nolive/${f} sent while its solver ran`,
        ).toEqual([]);
      }
    } finally {
      await front.close();
    }
    const final = ['_SUCCESS', '_ferry.log', '_manifest.json', 'a.out', 'b.out'];
    expect(await keysUnder('nolive/')).toEqual(final.map((k) => `nolive/${k}`));
    expect(await keysUnder('control/')).toEqual(final.map((k) => `control/${k}`));
  });
});

describe('a file the solver deletes while its live upload is still under way', () => {
  it('goes from the store once that upload ends, after the solver exited; the run is complete without it', async () => {
    const dir = tempDir('live-gone');
    const front = await startRecorder(s3.endpoint);
    try {
      writeAwsConfig(dir, { ...s3, endpoint: front.url });
      const gate = join(tempDir('gate'), 'open');
      // scratch.tmp is written and closed; once the test has its upload held, it is deleted and the solver exits.
      const solver =
        'echo keep > result.txt; echo temp > scratch.tmp; ' +
        `until [ -f ${gate} ]; do sleep 0.05; done; rm scratch.tmp`;
      const held = front.hold((q) => q.method === 'PUT' && q.path.startsWith(`/${BUCKET}/gone/scratch.tmp`));
      const run = startFerry(runArgs('gone', [], ['sh', '-c', solver]), { cwd: dir, env: cleanEnv() });
      await held.wait(run.running);
      writeFileSync(gate, '');
      // The solver exits and the final sweep begins while the upload is held.
      await waitFor('the solver to delete scratch.tmp', () => !existsSync(join(dir, 'scratch.tmp')), {
        timeoutMs: 10_000,
      });
      await new Promise((r) => setTimeout(r, 1000));
      held.release();
      const r = await run.result;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain(`removed s3://${BUCKET}/gone/scratch.tmp`);
      expect(await keysUnder('gone/')).toEqual([
        'gone/_SUCCESS',
        'gone/_ferry.log',
        'gone/_manifest.json',
        'gone/result.txt',
      ]);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'gone/_manifest.json')).toString());
      expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(['result.txt']);
    } finally {
      await front.close();
    }
  });
});
