import { describe, expect, it } from 'vitest';
import { buildPolicy } from '../../agent/policy.ts';
import { parseUri } from '../../agent/location.ts';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/env.ts';

describe('buildPolicy', () => {
  const out = parseUri('s3://out-bucket/output/', 'o');
  it('reads only the inputs, writes only under the output prefix, and lists with prefix conditions', () => {
    const p = buildPolicy([parseUri('s3://in-bucket/input/', 'i'), parseUri('s3://in-bucket/extra/a.zip', 'i')], out);
    const by = Object.fromEntries(p.Statement.map((s) => [s.Sid, s]));
    expect(by.ReadInputs0.Resource).toEqual(['arn:aws:s3:::in-bucket/input/*', 'arn:aws:s3:::in-bucket/extra/a.zip']);
    expect(by.ListInputs0.Condition).toEqual({ StringLike: { 's3:prefix': ['input/*', 'extra/a.zip/*'] } });
    expect(by.WriteOutputs.Resource).toBe('arn:aws:s3:::out-bucket/output/*');
    expect(by.WriteOutputs.Action).not.toContain('s3:*');
    expect(by.ListOutputs.Condition).toEqual({ StringLike: { 's3:prefix': ['output/*'] } });
    expect(p.Statement.every((s) => s.Principal === undefined)).toBe(true);
    expect(JSON.stringify(p)).not.toContain('"*"');
  });
  it('names the principal in every statement of a bucket policy', () => {
    const p = buildPolicy([parseUri('s3://out-bucket/input/a.zip', 'i')], out, 'arn:aws:iam::123:role/cfd');
    expect(p.Statement.every((s) => s.Principal?.AWS[0] === 'arn:aws:iam::123:role/cfd')).toBe(true);
  });
});

// bin/ferry from source (Node with tsx: seconds on a loaded 2-core machine).
describe('ferry policy --cross-account', { timeout: 30_000 }, () => {
  const run = (extra: string[]) =>
    execa(join(ROOT, 'bin/ferry'), ['policy', '--input', 's3://data/in/', '--output', 's3://data/out/', ...extra], {
      reject: false,
    });
  it('prints the permissions and a trust policy for the account, with the external id as a condition', async () => {
    const r = await run(['--cross-account', '123456789012', '--external-id', 'cfd-42']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.PermissionsPolicy).toEqual(
      buildPolicy([parseUri('s3://data/in/', 'x')], parseUri('s3://data/out/', 'x')),
    );
    expect(out.TrustPolicy.Statement).toEqual([
      {
        Sid: 'FerryCrossAccount',
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::123456789012:root' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'cfd-42' } },
      },
    ]);
    expect(r.stderr).toContain('external_id = cfd-42');
  });
  it('no condition without --external-id; an ARN as the principal; a bad account is 64', async () => {
    const arn = 'arn:aws:iam::123456789012:role/compute';
    const r = await run(['--cross-account', arn]);
    expect(JSON.parse(r.stdout).TrustPolicy.Statement[0]).not.toHaveProperty('Condition');
    expect(JSON.parse(r.stdout).TrustPolicy.Statement[0].Principal).toEqual({ AWS: arn });
    const bad = await run(['--cross-account', '12345']);
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toContain("--cross-account '12345' is neither a 12-digit account id nor an IAM ARN");
  });
});
