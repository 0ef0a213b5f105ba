import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { asPrefix, formatUri, isPrefix, parseUri, under } from '../../agent/location.ts';

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
