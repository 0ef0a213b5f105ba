import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import { sha256OfObject } from '../../agent/store/hash.ts';
import { verifyPrefix, type VerifyOptions } from '../../agent/prefix/verify.ts';
import { MemoryStore, manifestFor } from '../helpers/memory-store.ts';

const prefix = parseUri('s3://bkt/out/row/', 'test');
const FILES = { 'a.out': 'alpha', 'sub/b.out': 'bravo-bravo', 'empty.out': '' };
const quick: VerifyOptions = { deep: false, anyStatus: false, concurrency: 4 };
const deep: VerifyOptions = { ...quick, deep: true };

/** A complete row as ferry run leaves it: outputs, manifest, _ferry.log, _SUCCESS. */
function row(status = 'complete'): MemoryStore {
  const s = new MemoryStore();
  for (const [p, b] of Object.entries(FILES)) s.put(`out/row/${p}`, b);
  s.put('out/row/_manifest.json', manifestFor(FILES, { status, exit: status === 'solver-failed' ? 3 : 0 }));
  s.put('out/row/_ferry.log', 'ferry: …\n');
  if (status === 'complete') s.put('out/row/_SUCCESS', '');
  s.put('out/other/x', 'not under the prefix');
  return s;
}
const kinds = async (s: MemoryStore, o = quick) =>
  (await verifyPrefix(s, prefix, o)).findings.map((f) => `${f.kind} ${f.key}`);

describe('ferry verify: a prefix against its manifest', () => {
  it('a complete row is whole, quick or deep; ferry’s own objects are not "unlisted"', async () => {
    expect(await kinds(row())).toEqual([]);
    expect(await kinds(row(), deep)).toEqual([]);
    const r = await verifyPrefix(row(), prefix, quick);
    expect([r.objects, r.bytes]).toEqual([3, 16]);
  });
  it('a deleted object is missing; other bytes of the same size: changed (ETag), and deep says sha256', async () => {
    const s = row();
    s.objects.delete('out/row/sub/b.out');
    s.put('out/row/a.out', 'ALPHA');
    expect(await kinds(s)).toEqual(['changed a.out', 'missing sub/b.out']);
    expect(await kinds(s, deep)).toEqual(['changed a.out', 'missing sub/b.out', 'sha256 a.out']);
    const f = (await verifyPrefix(s, prefix, quick)).findings[0];
    expect(f.detail).toMatch(/^ETag [0-9a-f]{32} in the store, [0-9a-f]{32} in the manifest$/);
  });
  it('another size is changed, and not read even with --deep', async () => {
    const s = row();
    s.put('out/row/a.out', 'alpha, longer');
    expect(await kinds(s, deep)).toEqual(['changed a.out']);
    expect(s.calls.filter((c) => c.startsWith('read out/row/a.out'))).toEqual([]);
  });
  it('only --deep sees bytes the ETag does not (a sha256 that disagrees with the manifest)', async () => {
    const s = row();
    const m = JSON.parse(s.objects.get('out/row/_manifest.json')!.body.toString());
    m.outputs[0].sha256 = createHash('sha256').update('something else').digest('hex');
    s.put('out/row/_manifest.json', JSON.stringify(m));
    expect(await kinds(s)).toEqual([]);
    expect(await kinds(s, deep)).toEqual([`sha256 ${m.outputs[0].path}`]);
  });
  it('an ETag that is not an MD5 (SSE-KMS) is left to the store to judge', async () => {
    const s = row();
    s.setEtag('out/row/a.out', 'kms-opaque-etag');
    expect(await kinds(s)).toEqual([]);
    expect(s.calls).toContain('verify out/row/a.out');
  });
  it('objects the manifest does not list are flagged; a lease says a run writes there now', async () => {
    const s = row();
    s.put('out/row/extra.txt', 'who wrote this?');
    s.put('out/row/sub/_SUCCESS', 'not at the top: an object like any other');
    s.put('out/row/_ferry.lease', '{}');
    expect(await kinds(s)).toEqual(['running _ferry.lease', 'unlisted extra.txt', 'unlisted sub/_SUCCESS']);
  });
  it("a dead run's lease is no run under way: not renewed for its TTL (store clock), or its holder gone", async () => {
    const lease = (host: string, pid: number) => JSON.stringify({ row: 'r', attempt: 'a', run_id: 'a', host, pid });
    const s = row();
    s.put('out/row/_ferry.lease', lease('node-elsewhere', 42), new Date(s.now() - 5_000));
    expect(await kinds(s, { ...quick, leaseTtlMs: 10_000 })).toEqual(['running _ferry.lease']);
    expect(await kinds(s, { ...quick, leaseTtlMs: 3_000 })).toEqual([]); // stale by 2 s (a 1 s grain)
    s.put('out/row/_ferry.lease', lease(hostname(), process.pid)); // this process: alive
    expect(await kinds(s, { ...quick, leaseTtlMs: 10_000 })).toEqual(['running _ferry.lease']);
    s.put('out/row/_ferry.lease', lease(hostname(), 2 ** 22 + 1)); // above pid_max: no such process here
    expect(await kinds(s, { ...quick, leaseTtlMs: 10_000 })).toEqual([]);
    expect(await kinds(s, { ...quick, ownLease: true })).toEqual([]);
  });
  it('the status: solver-failed or no _SUCCESS is not whole, unless --any-status', async () => {
    expect(await kinds(row('solver-failed'))).toEqual(['status _manifest.json']);
    const f = (await verifyPrefix(row('solver-failed'), prefix, quick)).findings[0];
    expect(f.detail).toBe('the manifest says solver-failed (solver: 3), not complete (--any-status checks it anyway)');
    expect(await kinds(row('solver-failed'), { ...quick, anyStatus: true })).toEqual([]);
    const s = row();
    s.objects.delete('out/row/_SUCCESS');
    expect(await kinds(s)).toEqual(['status _SUCCESS']);
  });
  it('no manifest: not whole; a manifest not ferry’s or corrupt: a finding, marked corrupt (exit 65)', async () => {
    const s = new MemoryStore();
    expect(await kinds(s)).toEqual(['no-manifest _manifest.json']);
    s.put('out/row/_manifest.json', '<html>');
    expect(await verifyPrefix(s, prefix, quick)).toMatchObject({
      corrupt: true,
      findings: [{ kind: 'corrupt', key: '_manifest.json', detail: expect.stringContaining('it is not JSON') }],
    });
    s.put('out/row/_manifest.json', JSON.stringify({ status: 'complete', outputs: [null] }));
    expect((await verifyPrefix(s, prefix, quick)).findings[0].detail).toContain('outputs[0] is null');
  });
  it('--deep reads objects side by side, never more than --concurrency at once', async () => {
    const s = new MemoryStore();
    const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, `bytes of ${i}`]));
    for (const [p, b] of Object.entries(files)) s.put(`out/row/${p}`, b);
    s.put('out/row/_manifest.json', manifestFor(files));
    s.put('out/row/_SUCCESS', '');
    expect(await kinds(s, { ...deep, concurrency: 3 })).toEqual([]);
    expect(s.calls.filter((c) => c.startsWith('read')).length).toBe(20);
    expect(s.maxInFlight).toBe(3);
  });
});

describe('sha256 of a stored object', () => {
  it('hashes the chunks as they come, in one ranged read of the whole object', async () => {
    const s = new MemoryStore();
    s.chunk = 1000;
    const body = Buffer.alloc(123_457, 7);
    s.put('k', body);
    const info = await s.head(parseUri('s3://bkt/k', 't'), { phase: 'download' });
    const got = await sha256OfObject(s, parseUri('s3://bkt/k', 't'), info, { phase: 'download' });
    expect(got).toBe(createHash('sha256').update(body).digest('hex'));
    expect(s.calls).toEqual(['head k', 'read k 0-123457']);
  });
});
