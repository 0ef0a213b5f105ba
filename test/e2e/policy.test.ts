import { GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, listAll, putBytes } from '../helpers/s3.ts';

// `ferry policy` applied as a bucket policy on the real RGW for a second user who owns nothing:
// that user can run the DOE row and nothing more.
const BUCKET = bucketFor('ferry-policy');
const s3 = inject('s3');
const admin = adminClient(s3);
const user2 = { accessKey: s3.accessKey2, secretKey: s3.secretKey2 };
const client2 = adminClient(s3, user2);

const TITLE = 'ferry policy --bucket-policy, applied on Ceph RGW for a second user';
describe.runIf(s3.kind === 'ceph')(TITLE, { tags: ['ceph'] }, () => {
  beforeAll(async () => {
    await ensureBucket(admin, BUCKET);
    // An earlier run's outputs (the server outlives a run of the suite) would satisfy the key list.
    await emptyPrefix(admin, BUCKET, 'output/');
    const zip = readFileSync(zipCase('pintle', tempDir('zips')));
    await putBytes(admin, BUCKET, 'input/pintle.zip', zip);
    await putBytes(admin, BUCKET, 'input/other.zip', zip);
    await putBytes(admin, BUCKET, 'private/secret.txt', 'not for user2');
    const r = await ferry([
      'policy',
      '--input',
      `s3://${BUCKET}/input/pintle.zip`,
      '--output',
      `s3://${BUCKET}/output/pintle/`,
      '--bucket-policy',
      'arn:aws:iam:::user/ferry2',
    ]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toContain('s3:AbortMultipartUpload');
    await admin.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: r.stdout }));
  });
  afterAll(() => {
    admin.destroy();
    client2.destroy();
  });

  it('lets the second user run the whole row with its own keys', async () => {
    const dir = tempDir('policy-run');
    writeAwsConfig(dir, s3, user2);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/input/pintle.zip`,
        '--output',
        `s3://${BUCKET}/output/pintle/`,
        '--part-size',
        '5MiB',
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'head -c 12000000 /dev/zero > big.out; cat inputs.in > small.out',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect([...(await listAll(admin, BUCKET, 'output/pintle/')).keys()].sort()).toEqual(
      ['_SUCCESS', '_ferry.log', '_manifest.json', 'big.out', 'small.out'].map((k) => `output/pintle/${k}`),
    );
  });

  it('forbids reading outside the input and writing outside the output prefix', async () => {
    const denied = async (p: Promise<unknown>) =>
      expect(
        await p.then(
          () => 'allowed',
          (e: Error) => e.name,
        ),
      ).toBe('AccessDenied');
    await denied(client2.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt' })));
    await denied(client2.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'input/other.zip' })));
    await denied(client2.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'input/pintle.zip', Body: 'overwrite' })));
    await denied(client2.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'output/hsdi/x', Body: 'x' })));
  });

  it('a row whose input the policy does not cover: exit 77 with both possible causes named', async () => {
    const dir = tempDir('policy-deny');
    writeAwsConfig(dir, s3, user2);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/input/other.zip`,
        '--output',
        `s3://${BUCKET}/output/pintle/`,
        '--no-mpi',
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('s3:ListBucket');
  });
});
