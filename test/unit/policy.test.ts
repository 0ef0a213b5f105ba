import { describe, expect, it } from 'vitest';
import { buildPolicy } from '../../agent/policy.ts';
import { parseUri } from '../../agent/location.ts';

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
