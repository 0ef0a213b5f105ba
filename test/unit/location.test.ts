import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { asPrefix, formatUri, isPrefix, overlaps, parseUri, under } from '../../agent/location.ts';

describe('parseUri', () => {
  it('splits bucket and key', () => {
    expect(parseUri('s3://my-simulation-data/input/hsdi.zip', 'input')).toEqual({
      scheme: 's3',
      bucket: 'my-simulation-data',
      key: 'input/hsdi.zip',
    });
    expect(parseUri('s3://bucket', 'x')).toEqual({ scheme: 's3', bucket: 'bucket', key: '' });
  });
  it('tells objects from prefixes', () => {
    expect(isPrefix(parseUri('s3://bucket/in/', 'x'))).toBe(true);
    expect(isPrefix(parseUri('s3://bucket/in', 'x'))).toBe(false);
    expect(asPrefix(parseUri('s3://bucket/out/hsdi', 'x'))).toEqual({
      scheme: 's3',
      bucket: 'bucket',
      key: 'out/hsdi/',
    });
    expect(under(parseUri('s3://bkt/out/', 'x'), 'a/b.txt').key).toBe('out/a/b.txt');
    expect(formatUri({ scheme: 's3', bucket: 'bucket', key: 'k' })).toBe('s3://bucket/k');
  });
  it('refuses other schemes, bad bucket names and empty segments with the source named', () => {
    for (const bad of ['https://bucket/k', 's3:/bucket/k', 's3://Bad_Bucket/k', 's3://ab/k', 's3://bucket//k']) {
      expect(() => parseUri(bad, '--input'), bad).toThrow(FerryError);
    }
    expect(() => parseUri('s3:/x', '--input')).toThrow(/--input/);
  });
});

/** What a usage error says (its rendered text); fails the test when nothing is thrown. */
function said(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as FerryError).render();
  }
  throw new Error('expected a FerryError');
}

describe('parseUri for Azure Blob', () => {
  it('reads az://ACCOUNT/CONTAINER/PATH and the https form to the same location, and formats it back', () => {
    const want = { scheme: 'az', bucket: 'myacct/sim-data', key: 'out/hsdi/' };
    expect(parseUri('az://myacct/sim-data/out/hsdi/', 'x')).toEqual(want);
    expect(parseUri('https://myacct.blob.core.windows.net/sim-data/out/hsdi/', 'x')).toEqual(want);
    expect(formatUri(parseUri('https://MyAcct.blob.core.windows.net/sim-data/out/hsdi/', 'x'))).toBe(
      'az://myacct/sim-data/out/hsdi/',
    );
    for (const uri of ['az://myacct/sim-data/in/case.zip', 'az://myacct/sim-data/', 'az://acc/con/a b/c'])
      expect(formatUri(parseUri(formatUri(parseUri(uri, 'x')), 'x'))).toBe(formatUri(parseUri(uri, 'x')));
    expect(parseUri('https://myacct.blob.core.windows.net/sim-data/a%20b/c.txt', 'x').key).toBe('a b/c.txt');
    expect(isPrefix(parseUri('az://myacct/sim-data', 'x'))).toBe(true);
  });
  it('keeps a SAS after ? as the token, out of the formatted URI and out of error messages', () => {
    const sas = 'sv=2025-01-05&sr=c&sp=rl&sig=SECRETSIGNATURE%3D';
    const loc = parseUri(`https://myacct.blob.core.windows.net/data/in/case.zip?${sas}`, 'x');
    expect(loc).toEqual({ scheme: 'az', bucket: 'myacct/data', key: 'in/case.zip', token: sas });
    expect(formatUri(loc)).toBe('az://myacct/data/in/case.zip');
    expect(under(asPrefix(parseUri(`az://myacct/data/out?${sas}`, 'x')), 'a.txt')).toEqual({
      scheme: 'az',
      bucket: 'myacct/data',
      key: 'out/a.txt',
      token: sas,
    });
    expect(() => parseUri(`az://My_Acct/data/x?${sas}`, 'x')).toThrow(/storage account/);
    expect(said(() => parseUri(`https://myacct.blob.core.windows.net/Bad_Container/x?${sas}`, '--input'))).toMatch(
      /invalid container 'Bad_Container'/,
    );
    const other = said(() => parseUri(`ftp://x/y?${sas}`, '--input'));
    expect(other).toContain('?***');
    expect(other).not.toContain('SECRET');
    expect(said(() => parseUri(`az://myacct/data//x?${sas}`, '--input'))).not.toContain('SECRET');
  });
  it('refuses bad accounts, containers, a missing container, and names the source', () => {
    for (const bad of [
      'az://ab/data/k',
      'az://myacct/Data/k',
      'az://myacct/a--b/k',
      'az://myacct',
      'az://my-acct/data/',
    ])
      expect(() => parseUri(bad, '--output'), bad).toThrow(/--output/);
  });
});

describe('parseUri for S3 https URLs', () => {
  it.each([
    ['https://my-bucket.s3.amazonaws.com/in/case.zip', 's3://my-bucket/in/case.zip'],
    ['https://my.bucket.s3.eu-west-1.amazonaws.com/in/a%20b.zip', 's3://my.bucket/in/a b.zip'],
    ['https://bkt.s3-us-west-2.amazonaws.com/k', 's3://bkt/k'],
    ['https://bkt.s3.dualstack.us-east-1.amazonaws.com/k', 's3://bkt/k'],
    ['https://s3.us-east-2.amazonaws.com/bkt/x/y/', 's3://bkt/x/y/'],
    ['https://s3.amazonaws.com/bkt', 's3://bkt/'],
    ['https://bkt.s3.cn-north-1.amazonaws.com.cn/k', 's3://bkt/k'],
  ])('%s is %s', (url, uri) => expect(formatUri(parseUri(url, '--input'))).toBe(uri));

  it('refuses a pre-signed URL (ferry signs its own requests), showing none of its query', () => {
    expect(() => parseUri('https://bkt.s3.amazonaws.com/k?X-Amz-Signature=secret', '--input')).toThrow(
      "--input is a pre-signed URL: 'https://bkt.s3.amazonaws.com/k?***'",
    );
  });

  it('an https URL of another server: the hint gives the s3:// form and --endpoint', () => {
    expect(() => parseUri('http://127.0.0.1:7480/bkt/in/k.zip', '--input')).toThrow(
      expect.objectContaining({
        hint: expect.stringContaining(
          'write s3://bkt/in/k.zip and pass the server with --endpoint http://127.0.0.1:7480;',
        ),
      }),
    );
  });
});

describe('overlaps', () => {
  it('is true for the same bucket when one key starts with the other, false otherwise', () => {
    const u = (bucket: string, key: string) => ({ scheme: 's3' as const, bucket, key });
    expect(overlaps(u('b', 'in/'), u('b', 'in/'))).toBe(true);
    expect(overlaps(u('b', 'in/out/'), u('b', 'in/'))).toBe(true);
    expect(overlaps(u('b', 'in/'), u('b', 'in/case.zip'))).toBe(true);
    expect(overlaps(u('b', ''), u('b', 'x'))).toBe(true);
    expect(overlaps(u('b', 'in2/'), u('b', 'in/'))).toBe(false);
    expect(overlaps(u('b', 'in/case/'), u('b', 'in/case.zip'))).toBe(false);
    expect(overlaps(u('c', 'in/'), u('b', 'in/'))).toBe(false);
  });
});
