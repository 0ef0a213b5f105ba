import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, listAll, putBytes } from '../helpers/s3.ts';

// Messages and exit codes for what a user gets wrong: a missing bucket, a wrong key, bad flags, a
// policy that denies the manifest, a run dir that cannot be written.
const BUCKET = bucketFor('ferry-messages');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

describe('messages and codes', () => {
  it('output bucket missing: exit 66 naming it, before anything is downloaded', async () => {
    const dir = tempDir('nobucket');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        's3://ferry-no-such-bucket/out/',
        '--no-mpi',
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain('the bucket does not exist');
    expect(r.stderr).toContain('s3://ferry-no-such-bucket/out/');
    expect(existsSync(join(dir, 'params.txt'))).toBe(false);
  });

  it('a wrong secret key on a HEAD (no error code in the answer): exit 77 naming both likely causes', async () => {
    const cfg = writeAwsConfig(tempDir('badkey'), s3, {
      accessKey: s3.accessKey,
      secretKey: 'wrong-secret-DO-NOT-PRINT',
    });
    const r = await ferry(['get', '--aws-config', cfg, `s3://${BUCKET}/in/params.txt`, tempDir('badkey-out')], {
      env: cleanEnv(),
    });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('no error code in the answer');
    expect(r.stderr).toContain('the secret key is wrong');
    expect(r.stderr).toContain('may not read this key');
    expect(r.all).not.toContain('wrong-secret-DO-NOT-PRINT');
  });

  it.each([
    [['--part-size', '6GiB'], 'from 5MiB to 5GiB'],
    [['--np', '99999999999999999999'], '--np must be a whole number from 1 to 1000000'],
    [['--np', '2.5'], '--np must be a whole number'],
    [['--retries', '1e9'], '--retries must be a whole number'],
  ])('%j: exit 64', async (flags, says) => {
    const dir = tempDir('flags');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        ...flags,
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/flags/`,
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(says);
  });

  const denied =
    'the manifest cannot be written (a bucket policy denies it): the message says what failed and why, nothing is ' +
    'deleted but the credentials file';
  it.runIf(s3.kind === 'ceph')(denied, { tags: ['ceph'] }, async () => {
    const bucket = bucketFor('ferry-found-deny');
    await ensureBucket(admin, bucket);
    await emptyPrefix(admin, bucket, '');
    await putBytes(admin, bucket, 'in/params.txt', 'p=1\n');
    const user2 = 'arn:aws:iam:::user/ferry2';
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: [user2] },
          Action: ['s3:*'],
          Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        },
        {
          Effect: 'Deny',
          Principal: { AWS: [user2] },
          Action: ['s3:PutObject'],
          Resource: [`arn:aws:s3:::${bucket}/out/_manifest.json`],
        },
      ],
    };
    await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    const dir = tempDir('nomanifest');
    writeAwsConfig(dir, s3, { accessKey: s3.accessKey2, secretKey: s3.secretKey2 });
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${bucket}/in/params.txt`,
        '--output',
        `s3://${bucket}/out/`,
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'echo r > result.txt',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(73);
    expect(r.stderr).toContain(
      `writing the manifest failed: access denied (AccessDenied) (s3://${bucket}/out/_manifest.json)`,
    );
    expect(r.stderr).toContain('hint:');
    // the credentials file goes when the run ends, whatever its status; the rest stays as it was
    expect(r.stderr).toContain('deleted ./config (--aws-config): it holds a secret');
    expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'ferry.log', 'params.txt', 'result.txt']);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('r\n');
    expect((await listAll(admin, bucket, 'out/')).has('out/_SUCCESS')).toBe(false);
  });

  // sysfs refuses to create anything, even for root: a run dir, or a target, that cannot be written.
  it('a run dir that cannot be written: exit 74 naming it, before anything is downloaded or uploaded', async () => {
    await emptyPrefix(admin, BUCKET, 'unwritable/');
    const dir = tempDir('unwritable');
    writeAwsConfig(dir, s3);
    const args = [
      'run',
      '--aws-config',
      'config',
      '--workdir',
      '/sys/kernel',
      '--input',
      `s3://${BUCKET}/in/params.txt`,
    ];
    const r = await ferry([...args, '--output', `s3://${BUCKET}/unwritable/`, '--no-mpi', '--', 'true'], { cwd: dir });
    expect(r.exitCode, r.all).toBe(74);
    expect(r.stderr).toMatch(/local I\/O failed: E(ACCES|PERM): .*, open '\/sys\/kernel\/\.ferry-lock'/);
    expect(r.stderr).toContain('hint: the run directory is not writable by this user');
    expect(await listAll(admin, BUCKET, 'unwritable/')).toEqual(new Map());
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('ferry get into a folder that cannot be made: exit 74 naming it', async () => {
    const cfg = writeAwsConfig(tempDir('get74'), s3);
    const r = await ferry(['get', '--aws-config', cfg, `s3://${BUCKET}/in/params.txt`, '/sys/kernel/ferry-test']);
    expect(r.exitCode, r.all).toBe(74);
    expect(r.stderr).toMatch(/local I\/O failed: E(ACCES|PERM): .*, mkdir '\/sys\/kernel\/ferry-test'/);
    expect(r.stderr).toContain('hint: the run directory is not writable');
  });
});
