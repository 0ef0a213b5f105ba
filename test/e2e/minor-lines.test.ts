// Issue 27 item 9: the lines a job author reads after an odd run say what happened, in words.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitFor } from '../helpers/net.ts';
import { cleanEnv, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const BUCKET = bucketFor('ferry-minor-lines');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p\n');
});
afterAll(() => admin.destroy());

describe('the lines of an odd run', () => {
  it('a run with no output file: complete (0), with a warning that says so; no "0/0 file(s)"', async () => {
    const r = await runRow(s3, {
      bucket: BUCKET,
      out: 'empty',
      inputs: [`s3://${BUCKET}/in/params.txt`],
      solver: ['true'],
    }).run;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toContain('warning: the run made no output file: the row is complete with nothing under');
    expect(r.stderr).toContain(`nothing left to upload to s3://${BUCKET}/empty/`);
    expect(r.stderr).not.toContain('0/0 file(s)');
    expect([...(await listAll(admin, BUCKET, 'empty/')).keys()]).toContain('empty/_SUCCESS');
  });

  it('a run stopped by SIGTERM: 143, and its manifest records the signal as the reason', async () => {
    const dir = tempDir('minor-sigterm');
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`];
    const run = startFerry([...args, '--output', `s3://${BUCKET}/stopped/`, '--no-mpi', '--', 'sleep', '60'], {
      cwd: dir,
      env: cleanEnv(),
    });
    await waitFor('the solver launched', () => run.output().includes('launching: sleep 60'), {
      alive: run.running,
      timeoutMs: 60_000,
      context: run.output,
    });
    run.child.kill('SIGTERM');
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(143);
    const m = JSON.parse((await getBytes(admin, BUCKET, 'stopped/_manifest.json')).toString());
    expect(m.status).toBe('incomplete');
    expect(m.solver.stopped).toBe('stopped by SIGTERM');
  });
});
