import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockBlobClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import type { AzureClients } from '../../agent/azure/client.ts';
import { AzureStore } from '../../agent/azure/store.ts';
import { uploadBlob } from '../../agent/azure/upload.ts';
import type { TransferSettings } from '../../agent/config.ts';
import type { FerryError } from '../../agent/errors.ts';
import { ByteBudget } from '../../agent/store/budget.ts';

const MiB = 1024 * 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** A stand-in block blob that records every call, answering slowly and out of order. */
function recorder() {
  const staged = new Map<string, { bytes: Buffer; md5?: Uint8Array }>();
  const calls: string[] = [];
  let inFlight = 0;
  let most = 0;
  const blob = {
    stageBlock: async (id: string, body: Buffer, len: number, o: { transactionalContentMD5?: Uint8Array }) => {
      calls.push('stage');
      inFlight++;
      most = Math.max(most, inFlight);
      const copy = Buffer.from(body.subarray(0, len)); // the pool buffer is reused after this resolves
      await new Promise((r) => setTimeout(r, 5 + ((staged.size * 7) % 11)));
      staged.set(id, { bytes: copy, md5: o.transactionalContentMD5 });
      inFlight--;
      return {};
    },
    commitBlockList: async (ids: string[], o: { blobHTTPHeaders?: { blobContentMD5?: Uint8Array } }) => {
      calls.push('commit');
      return { etag: '"0x8DC0FFEE"', ids, headerMd5: o.blobHTTPHeaders?.blobContentMD5 };
    },
    upload: async (body: Buffer, len: number, o: { blobHTTPHeaders?: { blobContentMD5?: Uint8Array } }) => {
      calls.push('upload');
      staged.set('whole', { bytes: Buffer.from(body.subarray(0, len)), md5: o.blobHTTPHeaders?.blobContentMD5 });
      return { etag: '"0x8DCWHOLE"' };
    },
  };
  return { blob, staged, calls, most: () => most };
}

describe('uploadBlob: block blobs with Content-MD5 per block and on the commit, within the pool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-azup-'));
  const big = Buffer.alloc(23 * MiB);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(dir, 'big'), big);
  writeFileSync(join(dir, 'small'), 'hello\n');
  const dest = { scheme: 'az' as const, bucket: 'acct/c', key: 'k' };

  it('stages every block with its MD5, commits them in file order with the whole-file MD5', async () => {
    const r = recorder();
    let committed: { ids: string[]; headerMd5?: Uint8Array } | undefined;
    const commit = r.blob.commitBlockList;
    r.blob.commitBlockList = async (ids, o) => (committed = await commit(ids, o));
    const budget = new ByteBudget(6 * MiB, 2 * MiB); // 3 slots for 4 blocks in flight
    const o = { partSize: 2 * MiB, partsPerFile: 4, budget, sha256: true };
    const up = await uploadBlob(r.blob as unknown as BlockBlobClient, join(dir, 'big'), big.length, dest, o);
    expect(r.calls.filter((c) => c === 'stage')).toHaveLength(12); // 23 MiB in 2 MiB blocks: IDs 0…11
    expect(r.calls.at(-1)).toBe('commit');
    for (const { bytes, md5: sent } of r.staged.values()) expect(Buffer.from(sent!)).toEqual(md5(bytes));
    const ids = committed!.ids;
    expect(new Set(ids.map((id) => id.length)).size).toBe(1); // Azure refuses IDs of different lengths
    expect(Buffer.concat(ids.map((id) => r.staged.get(id)!.bytes)).equals(big)).toBe(true);
    expect(Buffer.from(committed!.headerMd5!)).toEqual(md5(big));
    expect(up).toMatchObject({ size: big.length, digest: md5(big).toString('hex'), etag: '0x8DC0FFEE' });
    expect(up.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    expect(r.most()).toBeLessThanOrEqual(3); // never more blocks in flight than the pool has buffers
  });

  it('a file of one block goes in one Put Blob whose Content-MD5 Azure checks', async () => {
    const r = recorder();
    const budget = new ByteBudget(16 * MiB, 5 * MiB);
    const up = await uploadBlob(r.blob as unknown as BlockBlobClient, join(dir, 'small'), 6, dest, {
      partSize: 5 * MiB,
      partsPerFile: 4,
      budget,
    });
    expect(r.calls).toEqual(['upload']);
    expect(Buffer.from(r.staged.get('whole')!.md5!)).toEqual(md5(Buffer.from('hello\n')));
    expect(up).toMatchObject({ digest: md5(Buffer.from('hello\n')).toString('hex'), etag: '0x8DCWHOLE' });
  });

  it('the store grows blocks to stay within 50,000 (whole MiB, at most 4000 MiB each), as S3 grows parts', () => {
    const store = (partSize: number) =>
      new AzureStore({} as AzureClients, { partSize } as TransferSettings, new ByteBudget(16 * MiB, 5 * MiB), 1);
    expect(store(5 * MiB).partFor(3 * MiB)).toBe(3 * MiB); // one Put Blob, a buffer of its size
    expect(store(5 * MiB).partFor(10 * MiB)).toBe(5 * MiB);
    expect(store(5 * MiB).partFor(50_000 * 5 * MiB)).toBe(5 * MiB);
    expect(store(5 * MiB).partFor(50_000 * 5 * MiB + 1)).toBe(6 * MiB);
    expect(store(5 * MiB).partFor(300 * 1024 * MiB)).toBe(7 * MiB); // 300 GiB / 50,000 = 6.1 MiB
    expect(store(5 * 1024 * MiB).partFor(100 * 1024 * MiB)).toBe(4000 * MiB); // --part-size 5GiB: Azure's most
  });

  it('refuses a file Azure cannot hold in one blob (over 50,000 blocks of 4000 MiB) before any request', async () => {
    const r = recorder();
    const budget = new ByteBudget(16 * MiB, 5 * MiB);
    const o = { partSize: 4001 * MiB, partsPerFile: 4, budget };
    const err = await uploadBlob(r.blob as unknown as BlockBlobClient, join(dir, 'big'), 200e12, dest, o).catch(
      (e: FerryError) => e,
    );
    expect(err).toMatchObject({ exitCode: 73, message: expect.stringMatching(/50,000 blocks of 4000 MiB/) });
    expect(r.calls).toEqual([]);
  });
});
