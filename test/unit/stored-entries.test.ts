import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import { fetchInputs } from '../../agent/transfer/fetch.ts';
import { STORED_DIRECT_MIN } from '../../agent/transfer/stored-entries.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { walk } from '../helpers/tree.ts';
import { quietLog, runDir } from '../helpers/unit-run.ts';

const transfer = { filesInFlight: 2, smallInFlight: 4, partsPerFile: 2, partSize: 5 << 20, memory: 64 << 20 };

/** A zip made by Python's zipfile: entries [name, file with its bytes, stored?], each with a 37-byte extra field. */
function zipOf(dir: string, entries: Array<[string, Buffer, boolean]>): Buffer {
  const list = entries.map(([name, body, stored], i) => {
    writeFileSync(join(dir, `body-${i}`), body);
    return [name, join(dir, `body-${i}`), stored];
  });
  const py = `
import json, sys, zipfile, struct
with zipfile.ZipFile(sys.argv[2], 'w') as z:
    for name, src, stored in json.loads(sys.argv[1]):
        zi = zipfile.ZipInfo(name)
        zi.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        zi.extra = struct.pack('<HH', 0xcafe, 33) + b'x' * 33
        z.writestr(zi, open(src, 'rb').read())
`;
  const out = join(dir, 'case.zip');
  execFileSync('python3', ['-c', py, JSON.stringify(list), out]);
  return readFileSync(out);
}

/**
 * `zip` served as s3://bucket/in/NAME by an in-memory store (chunks of `chunk` bytes), fetched into a
 * fresh run dir: the store, the dir and the fetch (not awaited).
 */
function fetchZip(work: string, name: string, zip: Buffer, chunk: number) {
  const store = new MemoryStore();
  store.chunk = chunk;
  store.put(`in/${name}`, zip);
  const dir = join(work, 'run');
  mkdirSync(dir);
  const uri = parseUri(`s3://bucket/in/${name}`, '--input');
  return { store, dir, get: fetchInputs(async () => store, [uri], dir, quietLog(), { transfer }) };
}

describe('big stored entries go straight from the ranged reads to their files', () => {
  it('every byte lands, across parts and chunks that straddle its edges; no temp file is left', async () => {
    const work = runDir();
    const mesh = randomBytes(STORED_DIRECT_MIN + 3 * 65_537 + 11); // its span crosses the 5 MiB parts
    const second = randomBytes(STORED_DIRECT_MIN);
    const small = randomBytes(300_000); // stored too, but small: through the archive's copy
    const text = Buffer.from('cell,value\n'.repeat(20_000));
    const zip = zipOf(work, [
      ['a.csv', text, false],
      ['case/mesh.bin', mesh, true],
      ['small.bin', small, true],
      ['sub/deep/second.bin', second, true],
      ['z.csv', text, false],
    ]);
    // chunks that start and end inside an entry's header and data
    const { store, dir, get } = fetchZip(work, 'case.zip', zip, 65_537);
    const r = await get;
    expect(r.files.sort()).toEqual(['a.csv', 'case/mesh.bin', 'small.bin', 'sub/deep/second.bin', 'z.csv']);
    expect(readFileSync(join(dir, 'case/mesh.bin')).equals(mesh)).toBe(true);
    expect(readFileSync(join(dir, 'sub/deep/second.bin')).equals(second)).toBe(true);
    expect(readFileSync(join(dir, 'small.bin')).equals(small)).toBe(true);
    expect(readFileSync(join(dir, 'z.csv')).equals(text)).toBe(true);
    expect(walk(dir).filter((f) => f.includes('.ferry-'))).toEqual([]);
    // Each big stored entry's local header was read on its own, from where it starts (its name follows
    // the 30 fixed bytes); the small stored one's was not.
    const at = (name: string) => `read in/case.zip ${zip.indexOf(Buffer.from(name)) - 30}-`;
    const reads = store.calls.filter((c) => c.startsWith('read in/case.zip '));
    expect(reads.filter((c) => c.startsWith(at('case/mesh.bin')))).toHaveLength(1);
    expect(reads.filter((c) => c.startsWith(at('sub/deep/second.bin')))).toHaveLength(1);
    expect(reads.filter((c) => c.startsWith(at('small.bin')))).toHaveLength(0);
  });

  it('the parts that hold only a big stored entry are read after the rest (which is inflated meanwhile)', async () => {
    const work = runDir();
    const mesh = randomBytes(4 * (5 << 20)); // parts 1 to 3 of 5 MiB lie inside it
    const text = randomBytes(1 << 20).toString('base64'); // deflates, but not to nothing
    const zip = zipOf(work, [
      ['a.csv', Buffer.from(text), false],
      ['mesh.bin', mesh, true],
      ['z.csv', Buffer.from(text + text), false],
    ]);
    const { store, dir, get } = fetchZip(work, 'order.zip', zip, 1 << 20);
    await get;
    expect(readFileSync(join(dir, 'mesh.bin')).equals(mesh)).toBe(true);
    const lho = zip.indexOf(Buffer.from('mesh.bin')) - 30;
    const limit = zip.indexOf(Buffer.from('z.csv')) - 30;
    const parts = store.calls
      .filter((c) => c.startsWith('read in/order.zip '))
      .map((c) => c.split(' ')[2].split('-').map(Number))
      .filter(([s]) => s % (5 << 20) === 0);
    const inside = parts.map(([s, e]) => lho <= s && e <= limit);
    expect(inside.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    expect(inside.indexOf(true)).toBe(inside.lastIndexOf(false) + 1); // every other part first
  });

  it('a big stored entry whose bytes fail their CRC is refused (65) and leaves no file, temp or real', async () => {
    const work = runDir();
    const mesh = randomBytes(STORED_DIRECT_MIN + 5);
    const zip = zipOf(work, [['mesh.bin', mesh, true]]);
    zip[zip.indexOf(mesh.subarray(0, 64)) + 1_000_000] ^= 0xff; // one byte of its data, CRC as it was
    const { dir, get } = fetchZip(work, 'bad.zip', zip, 1 << 20);
    await expect(get).rejects.toMatchObject({ exitCode: 65, message: expect.stringContaining('CRC-32') });
    expect(walk(dir)).toEqual([]);
  });

  it('a local header that says its data runs into the central directory is refused before any byte lands', async () => {
    const work = runDir();
    const zip = zipOf(work, [['mesh.bin', randomBytes(STORED_DIRECT_MIN), true]]);
    zip.writeUInt16LE(0xffff, 28); // the first local header's extra field length
    const { dir, get } = fetchZip(work, 'overlap.zip', zip, 1 << 20);
    await expect(get).rejects.toMatchObject({ exitCode: 65, message: expect.stringContaining('overlaps') });
    expect(walk(dir)).toEqual([]);
  });
});
