import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, putBytes } from '../helpers/s3.ts';

// The solver gets no store credentials; every secret ferry knows is masked in what it relays.
const BUCKET = bucketFor('ferry-solver-secrets');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

describe('secrets', () => {
  const PROXY_PW = 'Pr0xy-Pa55word';
  const env = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_ENDPOINT_URL: s3.endpoint,
    HTTPS_PROXY: `http://u:${PROXY_PW}@127.0.0.1:9`,
  });
  const dump = [
    'sh',
    '-c',
    'env > env.txt; echo "key=[$AWS_SECRET_ACCESS_KEY]"; echo "proxy=$HTTPS_PROXY"; cat notes.txt',
  ];

  function secretRow(name: string, extra: string[]) {
    const dir = tempDir(name);
    writeFileSync(join(dir, 'notes.txt'), `the key is ${s3.secretKey}\n`); // a file the solver prints
    const run = ferry(
      [
        'run',
        ...extra,
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/${name}/`,
        '--no-mpi',
        '--',
        ...dump,
      ],
      { cwd: dir, env: cleanEnv(env()) },
    );
    return { dir, run };
  }

  it('the solver gets no AWS credentials; every secret ferry knows is masked in its output and ferry.log', async () => {
    const { dir, run } = secretRow('secrets', ['--keep']);
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const envTxt = (await getBytes(admin, BUCKET, 'secrets/env.txt')).toString();
    expect(envTxt).not.toContain('AWS_SECRET_ACCESS_KEY');
    expect(envTxt).not.toContain('AWS_ACCESS_KEY_ID');
    expect(envTxt).not.toContain(s3.secretKey);
    expect(r.stdout).toContain('key=[]');
    expect(r.stdout).toContain('proxy=http://127.0.0.1:9'); // the proxy reaches the solver without its account
    expect(r.stdout).toContain('the key is ***');
    for (const text of [r.all, readFileSync(join(dir, 'ferry.log'), 'utf8')]) {
      expect(text).not.toContain(s3.secretKey);
      expect(text).not.toContain(PROXY_PW);
    }
  });

  it('--solver-env-credentials passes them on (the user asked), still masked in what ferry relays', async () => {
    const { run } = secretRow('secrets-kept', ['--solver-env-credentials']);
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, 'secrets-kept/env.txt')).toString()).toContain(
      `AWS_SECRET_ACCESS_KEY=${s3.secretKey}`,
    );
    expect(r.stdout).toContain('key=[***]');
    expect(r.all).not.toContain(s3.secretKey);
  });
});
