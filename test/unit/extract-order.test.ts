import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readCentralDirectory } from '../../agent/zip/central.ts';
import { extractEntries, planExtraction, type PlannedEntry } from '../../agent/zip/extract.ts';
import { runDir } from '../helpers/unit-run.ts';

/** A zip of `n` small deflated entries e0.txt… (Info-ZIP), its bytes and its planned entries. */
async function smallZip(work: string, n: number) {
  const src = join(work, 'src');
  mkdirSync(src);
  for (let i = 0; i < n; i++) writeFileSync(join(src, `e${i}.txt`), `entry ${i}\n`.repeat(2_000 + i));
  const file = join(work, 'small.zip');
  execFileSync('zip', ['-q', '-r', file, '.'], { cwd: src });
  return planned(file);
}

/** A zip written by Python's zipfile from [name, size of zeros or text, compressed?] entries. */
function pyZip(file: string, entries: Array<[string, number, boolean]>) {
  const py = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[2], 'w') as z:
    for name, size, deflated in json.loads(sys.argv[1]):
        body = (name.encode() + b' ') * (size // (len(name) + 1) + 1)
        z.writestr(name, body[:size], zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED)
`;
  execFileSync('python3', ['-c', py, JSON.stringify(entries), file]);
  return planned(file);
}

async function planned(file: string) {
  const zip = readFileSync(file);
  const cd = await readCentralDirectory('small.zip', zip.length, async (s, e) => zip.subarray(s, e));
  const plan = planExtraction('small.zip', cd, { maxBytes: Number.MAX_SAFE_INTEGER, limitName: 'x' });
  return { file, plan };
}

describe('extraction takes entries as their bytes arrive', () => {
  it('entries whose bytes are here do not wait behind ones still arriving (all slots waiting)', async () => {
    const work = runDir();
    const { file, plan } = await smallZip(work, 8);
    const first = [...plan].sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset).slice(0, 2);
    const late = new Set(first.map((p) => p.entry.localHeaderOffset));
    let done = 0;
    let arrive: () => void = () => {};
    const arrived = new Promise<void>((r) => (arrive = r));
    const dir = join(work, 'out');
    mkdirSync(dir);
    // The first two entries' bytes come only once the six others are in place (2 slots: before, both
    // waited in their slots and nothing else could run).
    const r = await extractEntries('small.zip', file, plan, dir, {
      concurrency: 2,
      ready: (start) => (late.has(start) ? arrived : Promise.resolve()),
      onFile: () => {
        if (++done === 6) arrive();
      },
    });
    expect(r.files).toHaveLength(8);
    for (const p of plan) expect(readFileSync(join(dir, p.rel), 'utf8')).toContain(`entry ${p.rel.slice(1, -4)}\n`);
  }, 10_000);

  it('the first entry refused stops the others where they wait for their bytes', async () => {
    const work = runDir();
    const { file, plan } = await smallZip(work, 6);
    const sorted = [...plan].sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset);
    sorted[0].entry.crc32 ^= 1; // its bytes fail their check
    const dir = join(work, 'out');
    mkdirSync(dir);
    const never = new Promise<void>(() => {});
    const first = sorted[0].entry.localHeaderOffset;
    // The other entries' bytes never come: the refusal must not wait for them.
    const got = extractEntries('small.zip', file, plan, dir, {
      ready: (start) => (start === first ? Promise.resolve() : never),
    });
    await expect(got).rejects.toMatchObject({ exitCode: 65, message: expect.stringContaining(sorted[0].rel) });
  }, 10_000);

  it('a refusal while a big entry streams is what the extraction fails with, not that entry stopped', async () => {
    const work = runDir();
    const { file, plan } = await pyZip(join(work, 'z.zip'), [
      ['big.csv', 6 << 20, true], // over the in-memory limit: streamed through zlib
      ['small.txt', 5_000, true],
    ]);
    const small = plan.find((p) => p.rel === 'small.txt')!;
    small.entry.crc32 ^= 1;
    const big = plan.find((p) => p.rel === 'big.csv')!;
    const dir = join(work, 'out');
    mkdirSync(dir);
    // The big entry's bytes come a little after the small one was refused.
    const later = new Promise<void>((r) => setTimeout(r, 300));
    const got = extractEntries('z.zip', file, plan, dir, {
      signal: new AbortController().signal,
      ready: (start) => (start >= big.entry.localHeaderOffset && start < big.limit ? later : Promise.resolve()),
    });
    await expect(got).rejects.toMatchObject({ exitCode: 65, message: expect.stringContaining('small.txt') });
  });

  it('many small entries wait in a bounded window, with one abort listener among them', async () => {
    const work = runDir();
    const n = 3_000;
    const { file, plan } = await pyZip(
      join(work, 'many.zip'),
      Array.from({ length: n }, (_, i): [string, number, boolean] => [`f${i}.txt`, 40, true]),
    );
    const dir = join(work, 'out');
    mkdirSync(dir);
    let waiting = 0;
    let most = 0;
    const listen = EventTarget.prototype.addEventListener;
    let aborts = 0;
    EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, ...rest: unknown[]) {
      if (type === 'abort') aborts++;
      return (listen as (...a: unknown[]) => void).call(this, type, ...rest);
    } as typeof listen;
    try {
      const r = await extractEntries('many.zip', file, plan, dir, {
        signal: new AbortController().signal,
        ready: () => {
          most = Math.max(most, ++waiting);
          return new Promise<void>((resolve) => setImmediate(() => (waiting--, resolve())));
        },
      });
      expect(r.files).toHaveLength(n);
    } finally {
      EventTarget.prototype.addEventListener = listen;
    }
    expect(most).toBeGreaterThan(64); // side by side, far past the slots
    expect(most).toBeLessThanOrEqual(1024);
    expect(aborts).toBeLessThan(50); // not one per entry
  }, 30_000);

  it('a landed entry whose CRC-32 was kept as its bytes went by is not read back; one without is', async () => {
    const work = runDir();
    const body = randomBytes(100_000);
    const dir = join(work, 'out');
    mkdirSync(dir);
    const entry = { name: 'mesh.bin', method: 0, flags: 0, crc32: crc32(body), compressedSize: body.length };
    const p = {
      entry: { ...entry, size: body.length, localHeaderOffset: 0, externalAttrs: 0, madeBy: 3 },
      rel: 'mesh.bin',
      isDir: false,
      limit: body.length + 38,
    } as PlannedEntry;
    const tmp = join(dir, 'mesh.bin.tmp');
    // What is on disk differs from what went by: only a read-back can tell.
    writeFileSync(tmp, Buffer.alloc(body.length));
    const landed = (crc?: number) => () => Promise.resolve({ start: 38, end: 38 + body.length, tmp, crc: () => crc });
    await extractEntries('z.zip', join(work, 'none.zip'), [p], dir, { landed: landed(crc32(body)) });
    expect(existsSync(join(dir, 'mesh.bin'))).toBe(true);
    writeFileSync(tmp, Buffer.alloc(body.length));
    const refused = extractEntries('z.zip', join(work, 'none.zip'), [p], dir, { landed: landed(undefined) });
    await expect(refused).rejects.toMatchObject({ exitCode: 65, message: expect.stringContaining('CRC-32') });
  });
});
