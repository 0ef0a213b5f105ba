import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { asPrefix, formatUri, isPrefix, keyUnder, parseS3Uri } from '../../agent/uri.ts';

describe('parseS3Uri', () => {
  it('splits bucket and key', () => {
    expect(parseS3Uri('s3://my-simulation-data/input/hsdi.zip', 'input')).toEqual({ bucket: 'my-simulation-data', key: 'input/hsdi.zip' });
    expect(parseS3Uri('s3://bucket', 'x')).toEqual({ bucket: 'bucket', key: '' });
  });
  it('tells objects from prefixes', () => {
    expect(isPrefix(parseS3Uri('s3://bucket/in/', 'x'))).toBe(true);
    expect(isPrefix(parseS3Uri('s3://bucket/in', 'x'))).toBe(false);
    expect(asPrefix(parseS3Uri('s3://bucket/out/hsdi', 'x'))).toEqual({ bucket: 'bucket', key: 'out/hsdi/' });
    expect(keyUnder({ bucket: 'b', key: 'out/' }, 'a/b.txt')).toBe('out/a/b.txt');
    expect(formatUri({ bucket: 'bucket', key: 'k' })).toBe('s3://bucket/k');
  });
  it('refuses other schemes, bad bucket names and empty segments with the source named', () => {
    for (const bad of ['https://bucket/k', 's3:/bucket/k', 's3://Bad_Bucket/k', 's3://ab/k', 's3://bucket//k']) {
      expect(() => parseS3Uri(bad, '--input'), bad).toThrow(FerryError);
    }
    expect(() => parseS3Uri('s3:/x', '--input')).toThrow(/--input/);
  });
});
