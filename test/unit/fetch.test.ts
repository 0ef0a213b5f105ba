import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import { fetchInputs } from '../../agent/transfer/fetch.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { quietLog, runDir } from '../helpers/unit-run.ts';

const transfer = { filesInFlight: 2, smallInFlight: 4, partsPerFile: 2, partSize: 5 << 20, memory: 64 << 20 };
const get = (store: MemoryStore, uris: string[], dir: string) =>
  fetchInputs(
    async () => store,
    uris.map((u) => parseUri(u, '--input')),
    dir,
    quietLog(),
    { transfer },
  );

describe('fetchInputs against the in-memory store', () => {
  it('an object lands as its last key part; a prefix keeps relative paths; every byte as stored', async () => {
    const store = new MemoryStore();
    store.chunk = 7; // many small chunks per read
    store.put('in/params.txt', 'p=1\n');
    store.put('tree/a.txt', 'A'.repeat(1000));
    store.put('tree/sub/b.bin', Buffer.from([0, 1, 2, 255]));
    const dir = runDir();
    const r = await get(store, ['s3://bucket/in/params.txt', 's3://bucket/tree/'], dir);
    expect(r.files).toEqual(['a.txt', 'params.txt', 'sub/b.bin']);
    expect(readFileSync(join(dir, 'params.txt'), 'utf8')).toBe('p=1\n');
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('A'.repeat(1000));
    expect([...readFileSync(join(dir, 'sub/b.bin'))]).toEqual([0, 1, 2, 255]);
    expect(r.inputs.map((i) => [i.uri, i.size])).toEqual([
      ['s3://bucket/in/params.txt', 4],
      ['s3://bucket/tree/a.txt', 1000],
      ['s3://bucket/tree/sub/b.bin', 4],
    ]);
  });

  it('a key that climbs out of the target is refused (65) before any byte is written', async () => {
    const store = new MemoryStore();
    store.put('pin/ok.txt', 'fine');
    store.put('pin/../../victim.txt', 'climbs out');
    const dir = runDir();
    await expect(get(store, ['s3://bucket/pin/'], join(dir, 'run'))).rejects.toMatchObject({ exitCode: 65 });
    expect(existsSync(join(dir, 'victim.txt'))).toBe(false);
    expect(existsSync(join(dir, 'run', 'ok.txt'))).toBe(false);
    expect(store.calls.filter((c) => c.startsWith('read '))).toEqual([]);
  });

  it('an empty prefix is 66, naming it', async () => {
    await expect(get(new MemoryStore(), ['s3://bucket/nothing/'], runDir())).rejects.toMatchObject({
      exitCode: 66,
      target: 's3://bucket/nothing/',
    });
  });
});
