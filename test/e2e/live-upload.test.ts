import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const BUCKET = 'ferry-live';
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

describe('ferry run --settle 0.5 (live upload while the solver runs)', () => {
  it('uploads settled files during the run, re-uploads a changed one, removes a deleted one', async () => {
    const dir = tempDir('live');
    writeAwsConfig(dir, s3);
    copyFileSync(join(ROOT, 'fixtures/solver/live-writer.sh'), join(dir, 'live-writer.sh'));
    const r = await ferry(
      ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/out/`, '--settle', '0.5', '--no-mpi', '--', './live-writer.sh'],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain('2 file(s) were uploaded while the solver ran');
    expect(r.all).toContain('scratch.tmp: uploaded while the solver ran, deleted by it since');
    const keys = [...(await listAll(admin, BUCKET, 'out/')).keys()].sort();
    expect(keys).toEqual(['out/_SUCCESS', 'out/_manifest.json', 'out/out/early.dat', 'out/out/late.dat']);
    expect((await getBytes(admin, BUCKET, 'out/out/early.dat')).toString()).toBe('v2-longer\n');
    expect((await getBytes(admin, BUCKET, 'out/out/late.dat')).toString()).toBe('late\n');
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'live-writer.sh']); // the script was there before ferry
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
