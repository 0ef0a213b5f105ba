import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { Uploaded } from '../../agent/s3/upload.ts';
import { BatchVerifier } from '../../agent/s3/verify.ts';

type Obj = { size: number; etag: string };

/**
 * A stand-in server: `listed` is what ListObjectsV2 shows (sorted, 2 keys per page), `stored`
 * what HeadObject answers. They differ when a listing lags or lies.
 */
function server(listed: Map<string, Obj>, stored: Map<string, Obj>) {
  const calls: string[] = [];
  const client = {
    send: async (cmd: { constructor: { name: string }; input: Record<string, string | undefined> }) => {
      await new Promise((r) => setTimeout(r, 5));
      const name = cmd.constructor.name;
      calls.push(name === 'HeadObjectCommand' ? `head ${cmd.input.Key}` : 'list');
      if (name === 'HeadObjectCommand') {
        const o = stored.get(cmd.input.Key!);
        if (!o) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
        return { ContentLength: o.size, ETag: `"${o.etag}"` };
      }
      const keys = [...listed.keys()].filter((k) => k.startsWith(cmd.input.Prefix ?? '') && k > (cmd.input.StartAfter ?? '')).sort();
      const from = cmd.input.ContinuationToken ? keys.indexOf(cmd.input.ContinuationToken) : 0;
      const page = keys.slice(from, from + 2);
      const next = keys[from + 2];
      return { Contents: page.map((k) => ({ Key: k, Size: listed.get(k)!.size, ETag: `"${listed.get(k)!.etag}"` })), IsTruncated: next !== undefined, NextContinuationToken: next };
    },
  } as unknown as S3Client;
  return { client, calls };
}

const up = (key: string, size: number, etag: string): Uploaded => ({ key, size, expectedEtag: etag, sha256: '' });

describe('BatchVerifier', () => {
  it('checks one upload with HeadObject, and the uploads that finish meanwhile with one listing', async () => {
    const objs = new Map<string, Obj>();
    for (let i = 0; i < 6; i++) objs.set(`out/f${i}`, { size: i, etag: `e${i}` });
    const { client, calls } = server(objs, objs);
    const v = new BatchVerifier(client, 'b');
    const first = v.verify(up('out/f0', 0, 'e0'));
    const rest = [1, 2, 3, 4, 5].map((i) => v.verify(up(`out/f${i}`, i, `e${i}`)));
    expect(await Promise.all([first, ...rest])).toEqual(Array(6).fill({ ok: true }));
    expect(calls[0]).toBe('head out/f0');
    expect(calls.slice(1).every((c) => c === 'list')).toBe(true);
    expect(calls.length).toBeLessThanOrEqual(4); // 5 keys, 2 per page
  });

  it('a listing can only confirm: a key it misses or shows stale is decided by HeadObject', async () => {
    const stored = new Map<string, Obj>();
    for (let i = 0; i < 6; i++) stored.set(`out/f${i}`, { size: 10, etag: `e${i}` });
    stored.set('out/f4', { size: 10, etag: 'corrupt' }); // S3 holds other bytes than were sent
    const listed = new Map(stored);
    listed.delete('out/f2'); // a listing that lags
    listed.set('out/f3', { size: 10, etag: 'old' }); // or shows an older version
    const { client, calls } = server(listed, stored);
    const v = new BatchVerifier(client, 'b');
    void v.verify(up('out/f0', 10, 'e0'));
    const verdicts = await Promise.all([1, 2, 3, 4, 5].map((i) => v.verify(up(`out/f${i}`, 10, `e${i}`))));
    expect(calls.filter((c) => c.startsWith('head')).sort()).toEqual(['head out/f0', 'head out/f2', 'head out/f3', 'head out/f4']);
    expect(verdicts).toEqual([{ ok: true }, { ok: true }, { ok: true }, { ok: false, reason: 'ETag in S3 is corrupt, expected e4' }, { ok: true }]);
  });

  it('reports a size or ETag mismatch with both values', async () => {
    const stored = new Map<string, Obj>([['out/a', { size: 3, etag: 'x' }], ['out/b', { size: 4, etag: 'y' }]]);
    const { client } = server(stored, stored);
    const v = new BatchVerifier(client, 'b');
    expect(await v.verify(up('out/a', 3, 'z'))).toEqual({ ok: false, reason: 'ETag in S3 is x, expected z' });
    expect(await v.verify(up('out/b', 5, 'y'))).toEqual({ ok: false, reason: 'size in S3 is 4, local file is 5' });
  });

  it('a key missing from S3 fails that upload only', async () => {
    const stored = new Map<string, Obj>([['out/a', { size: 1, etag: 'a' }]]);
    const { client } = server(stored, stored);
    const v = new BatchVerifier(client, 'b');
    const [a, gone] = await Promise.allSettled([v.verify(up('out/a', 1, 'a')), v.verify(up('out/gone', 1, 'g'))]);
    expect(a).toEqual({ status: 'fulfilled', value: { ok: true } });
    expect(gone.status).toBe('rejected');
  });
});
