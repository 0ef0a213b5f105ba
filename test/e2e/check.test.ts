import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, listAll, putBytes } from '../helpers/s3.ts';

// `ferry check`: the preflight a job author runs before submitting 200 rows.
const BUCKET = bucketFor('ferry-check');
const RO_BUCKET = bucketFor('ferry-check-ro');
const s3 = inject('s3');
const admin = adminClient(s3);
const user2 = { accessKey: s3.accessKey2, secretKey: s3.secretKey2 };

function check(args: string[], keys = { accessKey: s3.accessKey, secretKey: s3.secretKey }) {
  const dir = tempDir('check');
  writeAwsConfig(dir, s3, keys);
  return ferry(['check', '--aws-config', 'config', ...args], { cwd: dir, env: cleanEnv() });
}

describe('ferry check', () => {
  beforeAll(async () => {
    await ensureBucket(admin, BUCKET);
    await emptyPrefix(admin, BUCKET, '');
    await putBytes(admin, BUCKET, 'in/case.zip', Buffer.alloc(1536, 1));
    await putBytes(admin, BUCKET, 'in/more/b.txt', 'b');
  });
  afterAll(() => admin.destroy());

  it('green against a good setup: inputs readable, output writable, no probe left behind', async () => {
    const r = await check([
      '--input',
      `s3://${BUCKET}/in/case.zip`,
      '--input',
      `s3://${BUCKET}/in/more/`,
      '--output',
      `s3://${BUCKET}/out/row/`,
    ]);
    expect(r.exitCode, r.all).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^credentials +static keys, from profile 'default' in \S+\/config$/);
    expect(r.stdout).toMatch(/^region +us-east-1$/m);
    expect(r.stdout).toMatch(new RegExp(`^endpoint +${s3.endpoint}$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}route +direct$/m);
    expect(r.stdout).toMatch(/^clock +within 2 s of the server's/m);
    expect(r.stdout).toContain(`input        s3://${BUCKET}/in/case.zip: readable, 1.5 KiB`);
    expect(r.stdout).toContain(`input        s3://${BUCKET}/in/more/: readable, 1 object(s), 1 B`);
    expect(r.stdout).toMatch(
      new RegExp(`output +s3://${BUCKET}/out/row/: writable \\(put, verified and deleted .*\\.ferry-check-`),
    );
    expect(r.stdout).toContain(`multipart    s3://${BUCKET}/out/row/: an upload in parts can be started and aborted`);
    expect(r.stdout).toMatch(/^result +OK/m);
    expect(r.all).not.toContain(s3.secretKey);
    expect([...(await listAll(admin, BUCKET, 'out/')).keys()]).toEqual([]);
  });

  it('a missing input: 66, naming it', async () => {
    const r = await check(['--input', `s3://${BUCKET}/in/nope.zip`, '--output', `s3://${BUCKET}/out/row/`]);
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stdout).toContain(`input        FAILED: s3://${BUCKET}/in/nope.zip: not readable`);
    expect(r.stdout).toMatch(/^result +NOT OK \(exit 66\)$/m);
  });

  it.runIf(s3.kind === 'ceph')(
    'a read-only output prefix (bucket policy): 77 naming s3:PutObject',
    { tags: ['ceph'] },
    async () => {
      await ensureBucket(admin, RO_BUCKET);
      await putBytes(admin, RO_BUCKET, 'in/case.zip', 'zip');
      const policy = {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: ['arn:aws:iam:::user/ferry2'] },
            Action: ['s3:GetObject', 's3:ListBucket'],
            Resource: [`arn:aws:s3:::${RO_BUCKET}`, `arn:aws:s3:::${RO_BUCKET}/*`],
          },
        ],
      };
      await admin.send(new PutBucketPolicyCommand({ Bucket: RO_BUCKET, Policy: JSON.stringify(policy) }));
      const r = await check(['--input', `s3://${RO_BUCKET}/in/case.zip`, '--output', `s3://${RO_BUCKET}/out/`], user2);
      expect(r.exitCode, r.all).toBe(77);
      expect(r.stdout).toContain(`input        s3://${RO_BUCKET}/in/case.zip: readable, 3 B`);
      expect(r.stdout).toContain(`output       FAILED: s3://${RO_BUCKET}/out/: put refused (needs s3:PutObject)`);
      expect(r.stdout).toMatch(/^result +NOT OK \(exit 77\)$/m);
    },
  );
});
