import { describe, expect, it } from 'vitest';
import { EXIT, localIoError } from '../../agent/errors.ts';
import { classifyS3Error, TransferError } from '../../agent/s3/errors.ts';

const sdk = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const ctx = (phase: 'download' | 'upload') => ({ phase, op: 'op', target: 's3://b/k' });

describe('exit-code mapping', () => {
  it.each([
    ['NoSuchKey', 404, 'download', EXIT.noInput],
    ['NotFound', 404, 'download', EXIT.noInput],
    ['NoSuchBucket', 404, 'download', EXIT.noInput],
    ['NoSuchBucket', 404, 'upload', EXIT.noInput],
    ['AccessDenied', 403, 'download', EXIT.noPerm],
    ['Forbidden', 403, 'download', EXIT.noPerm],
    ['SignatureDoesNotMatch', 403, 'upload', EXIT.noPerm],
    ['InvalidAccessKeyId', 403, 'download', EXIT.noPerm],
    ['PermanentRedirect', 301, 'download', EXIT.noPerm],
    ['ServiceUnavailable', 503, 'download', EXIT.unavailable],
    ['InternalError', 500, 'upload', EXIT.unavailable],
    ['BadDigest', 400, 'upload', EXIT.cantCreate],
  ] as const)('%s (%i) while %s → %i', (name, status, phase, code) => {
    const e = classifyS3Error(sdk(name, status), ctx(phase));
    expect(e.exitCode).toBe(code);
    expect(e.target).toBe('s3://b/k');
  });
  it('maps proxy authentication (407, however it surfaces) to 77 with a hint', () => {
    const e = classifyS3Error(
      Object.assign(new Error('char 0: XML parse error'), { $metadata: { httpStatusCode: 407 } }),
      ctx('download'),
    );
    expect(e.exitCode).toBe(EXIT.noPerm);
    expect(e.hint).toContain('--proxy-auth-file');
  });
  it('maps refused connections and timeouts to 69', () => {
    expect(
      classifyS3Error(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), ctx('download'))
        .exitCode,
    ).toBe(EXIT.unavailable);
    expect(classifyS3Error(Object.assign(new Error('t'), { name: 'TimeoutError' }), ctx('upload')).exitCode).toBe(
      EXIT.unavailable,
    );
  });
  it('says a 403 on download may be a missing key without ListBucket', () => {
    expect(classifyS3Error(sdk('AccessDenied', 403), ctx('download')).hint).toContain('s3:ListBucket');
  });
  it('names both likely causes of a 403 without an error code (a HEAD answer has no body)', () => {
    for (const name of ['Unknown', 'Forbidden']) {
      const e = classifyS3Error(sdk(name, 403), ctx('download'));
      expect(e.message).toContain('no error code');
      expect(e.hint).toContain('secret key is wrong');
      expect(e.hint).toContain('may not read this key');
    }
  });
  it('maps a body that broke off past its retries to 69, saying what happened', () => {
    const e = classifyS3Error(
      new TransferError('broken', 'the body of range 0-9 of s3://b/k broke off at byte 4, 3 time(s)'),
      ctx('download'),
    );
    expect(e.exitCode).toBe(EXIT.unavailable);
    expect(e.message).toContain('broke off at byte 4');
  });
  it('maps a full disk to 74 with a hint', () => {
    const e = localIoError(
      Object.assign(new Error('no space'), { code: 'ENOSPC', syscall: 'write' }),
      'extract',
      '/run',
    );
    expect(e.exitCode).toBe(EXIT.ioErr);
    expect(e.hint).toContain('full');
  });
});
