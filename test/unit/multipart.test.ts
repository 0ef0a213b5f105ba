import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { abortUpload } from '../../agent/s3/multipart.ts';

// abortUpload waits 200 ms, then 400 ms between tries: fake timers run those waits at once.
describe('abortUpload', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('aborts again until the server no longer lists the upload (Ceph kept one after a first abort)', async () => {
    const calls: string[] = [];
    let listed = 2; // the first two listings still show the upload
    const client = {
      send: async (cmd: { constructor: { name: string } }) => {
        calls.push(cmd.constructor.name);
        if (cmd.constructor.name === 'ListMultipartUploadsCommand')
          return { Uploads: listed-- > 0 ? [{ Key: 'k', UploadId: 'u' }] : [] };
        return {};
      },
    } as unknown as S3Client;
    const done = abortUpload(client, { scheme: 's3', bucket: 'b', key: 'k' }, 'u');
    await vi.runAllTimersAsync();
    expect(await done).toBe(true);
    expect(calls.filter((c) => c === 'AbortMultipartUploadCommand')).toHaveLength(3);
  });

  it('reports false when the upload stays listed after three tries', async () => {
    const client = {
      send: async (cmd: { constructor: { name: string } }) =>
        cmd.constructor.name === 'ListMultipartUploadsCommand' ? { Uploads: [{ Key: 'k', UploadId: 'u' }] } : {},
    } as unknown as S3Client;
    const done = abortUpload(client, { scheme: 's3', bucket: 'b', key: 'k' }, 'u');
    await vi.runAllTimersAsync();
    expect(await done).toBe(false);
  });
});
