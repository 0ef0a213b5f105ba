import { describe, expect, it } from 'vitest';
import { BatchVerifier, type VerifySource } from '../../agent/store/batch-verify.ts';
import type { Uploaded } from '../../agent/store/store.ts';

type Obj = { size: number; etag: string };

/**
 * A stand-in server: `listed` is what ListObjectsV2 shows (sorted, 2 keys per page), `stored`
 * what HeadObject answers. They differ when a listing lags or lies.
 */
function server(listed: Map<string, Obj>, stored: Map<string, Obj>) {
  const calls: string[] = [];
  const source: VerifySource = {
    head: async (key) => {
      await new Promise((r) => setTimeout(r, 5));
      calls.push(`head ${key}`);
      const o = stored.get(key);
      if (!o) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      return { size: o.size, digest: o.etag };
    },
    async *list(prefix, startAfter) {
      const keys = [...listed.keys()].filter((k) => k.startsWith(prefix) && k > startAfter).sort();
      for (let from = 0; from < keys.length; from += 2) {
        await new Promise((r) => setTimeout(r, 5));
        calls.push('list');
        for (const k of keys.slice(from, from + 2))
          yield { key: k, size: listed.get(k)!.size, digest: listed.get(k)!.etag };
      }
    },
  };
  return { source, calls };
}

const up = (key: string, size: number, etag: string): Uploaded => ({
  loc: { scheme: 's3', bucket: 'b', key },
  size,
  digest: etag,
  etag,
  sha256: '',
});

const S3 = { where: 'S3', digest: 'ETag' };

describe('BatchVerifier', () => {
  it('checks one upload with HeadObject, and the uploads that finish meanwhile with one listing', async () => {
    const objs = new Map<string, Obj>();
    for (let i = 0; i < 6; i++) objs.set(`out/f${i}`, { size: i, etag: `e${i}` });
    const { source, calls } = server(objs, objs);
    const v = new BatchVerifier(source, S3);
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
    const { source, calls } = server(listed, stored);
    const v = new BatchVerifier(source, S3);
    void v.verify(up('out/f0', 10, 'e0'));
    const verdicts = await Promise.all([1, 2, 3, 4, 5].map((i) => v.verify(up(`out/f${i}`, 10, `e${i}`))));
    expect(calls.filter((c) => c.startsWith('head')).sort()).toEqual([
      'head out/f0',
      'head out/f2',
      'head out/f3',
      'head out/f4',
    ]);
    expect(verdicts).toEqual([
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: false, reason: 'ETag in S3 is corrupt, expected e4' },
      { ok: true },
    ]);
  });

  it('reports a size or ETag mismatch with both values', async () => {
    const stored = new Map<string, Obj>([
      ['out/a', { size: 3, etag: 'x' }],
      ['out/b', { size: 4, etag: 'y' }],
    ]);
    const { source } = server(stored, stored);
    const v = new BatchVerifier(source, S3);
    expect(await v.verify(up('out/a', 3, 'z'))).toEqual({ ok: false, reason: 'ETag in S3 is x, expected z' });
    expect(await v.verify(up('out/b', 5, 'y'))).toEqual({ ok: false, reason: 'size in S3 is 4, local file is 5' });
  });

  it('a listing asks for a page as long as it reads at most, not the 1,000 keys after its first', async () => {
    // 500 logs uploaded, 40 of them in the group to check (a live upload going on meanwhile).
    const objs = new Map<string, Obj>();
    for (let i = 0; i < 500; i++) objs.set(`out/log_${String(i).padStart(4, '0')}`, { size: i, etag: `e${i}` });
    let served = 0;
    const pages: number[] = [];
    const source: VerifySource = {
      head: async (key) => ({ size: objs.get(key)!.size, digest: objs.get(key)!.etag }),
      async *list(prefix, startAfter, _signal, pageSize = 1000) {
        const keys = [...objs.keys()].filter((k) => k.startsWith(prefix) && k > startAfter).sort();
        for (let from = 0; from < keys.length; from += pageSize) {
          pages.push(pageSize); // a round trip
          const page = keys.slice(from, from + pageSize);
          served += page.length; // what the server lists and ferry parses: the whole page
          for (const k of page) yield { key: k, size: objs.get(k)!.size, digest: objs.get(k)!.etag };
        }
      },
    };
    const v = new BatchVerifier(source, S3);
    const group = Array.from({ length: 40 }, (_, j) => 95 + j); // (their common prefix: out/log_0)
    const verdicts = await Promise.all(
      group.map((i) => v.verify(up(`out/log_${String(i).padStart(4, '0')}`, i, `e${i}`))),
    );
    expect(verdicts).toEqual(Array(40).fill({ ok: true }));
    // The first upload alone is checked by HEAD, the other 39 by one listing of one page: as many keys
    // as it reads at most (8 a key), against 410 (every key after the group's first) with 1,000 a page.
    expect(pages).toEqual([312]);
    expect(served).toBe(312);
    // A group whose keys lie spread over a range (uploads end out of order): still one round trip.
    pages.length = 0;
    const spread = Array.from({ length: 40 }, (_, j) => 200 + 7 * j);
    const w = new BatchVerifier(source, S3);
    await Promise.all(spread.map((i) => w.verify(up(`out/log_${String(i).padStart(4, '0')}`, i, `e${i}`))));
    expect(pages).toEqual([312]);
  });

  it('a key missing from S3 fails that upload only', async () => {
    const stored = new Map<string, Obj>([['out/a', { size: 1, etag: 'a' }]]);
    const { source } = server(stored, stored);
    const v = new BatchVerifier(source, S3);
    const [a, gone] = await Promise.allSettled([v.verify(up('out/a', 1, 'a')), v.verify(up('out/gone', 1, 'g'))]);
    expect(a).toEqual({ status: 'fulfilled', value: { ok: true } });
    expect(gone.status).toBe('rejected');
  });
});
