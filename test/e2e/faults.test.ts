import { execFileSync } from 'node:child_process';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { isWrite, requestsFor, startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs, partBytes } from '../helpers/solver.ts';

const BUCKET = bucketFor('ferry-faults');
const s3 = inject('s3');
const admin = adminClient(s3);
const server = join(ROOT, 'scripts/s3-server');

function runDir(name: string): string {
  const dir = tempDir(name);
  writeAwsConfig(dir, s3);
  copyFileSync(join(ROOT, 'fixtures/solver/write-outputs.sh'), join(dir, 'write-outputs.sh'));
  return dir;
}

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

describe('through a faulty network (resets, 503 SlowDown, latency)', () => {
  it('ferry run completes with byte-exact outputs', async () => {
    // Faults on every other new connection at first (each retry opens a new one), then clean.
    const plan = (n: number) => (n >= 16 || n % 2 === 1 ? 'pass' : n % 4 === 0 ? 'reset' : 'slowdown');
    const proxy = await startFaultProxy(s3.endpoint, plan, 2);
    try {
      const dir = runDir('faulty');
      const r = await ferry(
        [
          'run',
          '--aws-config',
          'config',
          '--endpoint',
          proxy.url,
          '--input',
          `s3://${BUCKET}/in/params.txt`,
          '--output',
          `s3://${BUCKET}/faulty/`,
          '--part-size',
          '5MiB',
          '--no-mpi',
          '--',
          './write-outputs.sh',
          '3',
          '6',
        ],
        { cwd: dir, env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(0);
      expect(proxy.counts.reset).toBeGreaterThan(0);
      expect(proxy.counts.slowdown).toBeGreaterThan(0);
      for (let i = 1; i <= 3; i++)
        expect(
          (await getBytes(admin, BUCKET, `faulty/results/part_${i}.bin`)).equals(partBytes(6, i)),
          `part ${i}`,
        ).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  const silent = 'a server that never answers: exit 69 after --retries attempts of --timeout each, nothing deleted';
  it(silent, { timeout: 60_000 }, async () => {
    const proxy = await startFaultProxy(s3.endpoint, () => 'hang');
    try {
      const dir = runDir('silent');
      const r = await ferry(
        [
          'run',
          '--aws-config',
          'config',
          '--endpoint',
          proxy.url,
          '--timeout',
          '1',
          '--retries',
          '2',
          '--input',
          `s3://${BUCKET}/in/params.txt`,
          '--output',
          `s3://${BUCKET}/silent/`,
          '--no-mpi',
          '--',
          'true',
        ],
        { cwd: dir, env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(69);
      expect(r.stderr).toContain('did not answer');
      // Each attempt opens a connection that never answers: exactly --retries of them (default 5).
      expect(proxy.counts.hang).toBe(2);
      // Nothing of the run's is deleted; the credential file it was given goes whatever the status.
      expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'ferry.log', 'write-outputs.sh']);
    } finally {
      await proxy.close();
    }
  });
});

const FRONT_DIES = 'the S3 front (radosgw) dies mid-upload, then the row is re-run';
describe.runIf(s3.kind === 'ceph')(FRONT_DIES, { tags: ['ceph'] }, () => {
  afterAll(() => execFileSync(server, ['front-start'], { stdio: 'inherit' }));

  it('exits 73 keeping every output; the re-run moves only what is missing and completes', async () => {
    const dir = runDir('resume');
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`];
    args.push('--output', `s3://${BUCKET}/resume/`, '--concurrency', '1', '--part-size', '5MiB', '--retries', '2');
    args.push('--no-live-upload', '--no-mpi', '--', './write-outputs.sh', '6', '12');
    // The first attempt goes through a front of ours that holds the second part of part_3.bin (one file
    // at a time: parts 1 and 2 are in S3 then, part 3's upload is under way); radosgw stops meanwhile.
    const front = await startRecorder(s3.endpoint);
    let parts = 0;
    const held = front.hold(
      (q) => q.method === 'PUT' && /\/results\/part_3\.bin\?.*partNumber=/.test(q.path) && ++parts === 2,
    );
    const first = startFerry(['run', '--endpoint', front.url, ...args.slice(1)], { cwd: dir });
    await held.wait(first.running);
    execFileSync(server, ['front-stop']);
    held.release(); // to a server that is gone
    const r1 = await first.result.finally(() => front.close());
    execFileSync(server, ['front-start']);
    expect(r1.exitCode, r1.all).toBe(73);
    for (let i = 1; i <= 6; i++) expect(existsSync(join(dir, `results/part_${i}.bin`)), `part ${i} kept`).toBe(true);
    // The credential file it was given went with the failed run: the re-run is given it again.
    expect(existsSync(join(dir, 'config')), 'config removed after 73').toBe(false);
    writeAwsConfig(dir, s3);
    const afterFirst = await listAll(admin, BUCKET, 'resume/');
    expect(afterFirst.has('resume/_SUCCESS')).toBe(false);
    const had = [...afterFirst.keys()].filter((k) => k.startsWith('resume/results/')).sort();
    expect(had).toEqual(['resume/results/part_1.bin', 'resume/results/part_2.bin']);
    const unfinished = await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'resume/' }));
    expect((unfinished.Uploads ?? []).map((u) => u.Key)).toEqual(['resume/results/part_3.bin']);

    // The re-run goes through a front that records every request reaching the server.
    const rec = await startRecorder(s3.endpoint);
    const r2 = await ferry(['run', '--endpoint', rec.url, ...args.slice(1)], { cwd: dir }).finally(() => rec.close());
    expect(r2.exitCode, r2.all).toBe(0);
    // Writes (PutObject, multipart create/part/complete, deletes) per object: none to what was there.
    const writes = (key: string) => requestsFor(rec, BUCKET, key).filter(isWrite);
    for (let i = 1; i <= 6; i++) {
      const key = `resume/results/part_${i}.bin`;
      if (had.includes(key)) expect(writes(key), `${key} was already there`).toEqual([]);
      else
        expect(
          writes(key).map((q) => q.method),
          `${key} was missing`,
        ).toContain('PUT');
    }
    const m = JSON.parse((await getBytes(admin, BUCKET, 'resume/_manifest.json')).toString());
    expect(m.status).toBe('complete');
    expect(m.outputs).toHaveLength(6);
    for (const o of m.outputs) {
      const body = await getBytes(admin, BUCKET, `resume/${o.path}`);
      expect(createHash('sha256').update(body).digest('hex')).toBe(o.sha256);
      expect(body.equals(partBytes(12, Number(/part_(\d)/.exec(o.path)![1])))).toBe(true);
    }
    expect((await listAll(admin, BUCKET, 'resume/')).has('resume/_SUCCESS')).toBe(true);
    // The multipart upload the dead front left unfinished was aborted, and none is left.
    const mpu = await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'resume/' }));
    expect(mpu.Uploads ?? []).toEqual([]);
    // The solver script was there before ferry started: not ferry's to delete.
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'write-outputs.sh']);
  });
});

describe('SIGTERM while the solver runs (mpirun -np 8)', () => {
  it('forwards it: ranks stop, partial outputs are uploaded, manifest incomplete, exit 143, run dir kept', async () => {
    // The ranks wait in step 1 while the hold file exists: SIGTERM comes while the solver is mid-run.
    const hold = join(tempDir('hold'), 'hold');
    writeFileSync(hold, '');
    const zip = zipCase('pintle', tempDir('zips'), `hold_file ${hold}\n`);
    await putBytes(admin, BUCKET, 'in/pintle-held.zip', readFileSync(zip));
    const dir = tempDir('sigterm');
    writeAwsConfig(dir, s3);
    const env = cleanEnv({ PATH: `${inject('solverDir')}:${process.env.PATH}` });
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/pintle-held.zip`];
    args.push('--output', `s3://${BUCKET}/sigterm/`, '--np', '8', '--grace', '20', '--', 'converge', 'super');
    const p = startFerry(args, { cwd: dir, env });
    await waitFor('the solver in step 1', () => p.output().includes('Cycle 1 of 4'), { alive: p.running });
    p.child.kill('SIGTERM');
    const r = await p.result;
    expect(r.exitCode, r.all).toBe(143);
    // No process is left running in the run directory (Open MPI ranks included).
    const left = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readlinkSync(`/proc/${pid}/cwd`) === dir;
        } catch {
          return false;
        }
      });
    expect(left).toEqual([]);
    const m = JSON.parse((await getBytes(admin, BUCKET, 'sigterm/_manifest.json')).toString());
    expect(m.status).toBe('incomplete');
    const keys = [...(await listAll(admin, BUCKET, 'sigterm/')).keys()];
    expect(keys).not.toContain('sigterm/_SUCCESS');
    // Every rank stopped in step 1: its file holds that step's line, whole (what it wrote, uploaded).
    const want = expectedOutputs('pintle', 8, 4, 0);
    for (let rank = 0; rank < 8; rank++) {
      const rel = `output/rank_${rank}.out`;
      const step1 = want
        .get(rel)!
        .toString()
        .split(/(?<=\n)/)[0];
      expect((await getBytes(admin, BUCKET, `sigterm/${rel}`)).toString(), rel).toBe(step1);
    }
    expect(readdirSync(dir)).toContain('output');
  });
});

describe('secrets', () => {
  it('the secret key appears nowhere in the output, the run log, or any uploaded object', async () => {
    await emptyPrefix(admin, BUCKET, 'secret/');
    const dir = runDir('secret');
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--upload-all',
        '--keep',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/secret/`,
        '--no-mpi',
        '--',
        './write-outputs.sh',
        '1',
        '1',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).not.toContain(s3.secretKey);
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).not.toContain(s3.secretKey);
    const keys = [...(await listAll(admin, BUCKET, 'secret/')).keys()];
    expect(keys).not.toContain('secret/config');
    for (const k of keys) expect((await getBytes(admin, BUCKET, k)).includes(s3.secretKey), k).toBe(false);
  });
});
