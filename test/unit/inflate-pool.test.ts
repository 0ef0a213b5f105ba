import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { InflatePool, type InflateJob } from '../../agent/zip/inflate-pool.ts';

/** One zip local header + deflated data at offset 0 of a file; returns the job for it. */
function entry(dir: string, name: string, data: Buffer, tweak: Partial<InflateJob> = {}, cut = 0): InflateJob {
  const raw = deflateRawSync(data);
  const header = Buffer.alloc(30 + name.length);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(8, 8);
  header.writeUInt16LE(name.length, 26);
  header.write(name, 30);
  const file = join(dir, `${name}.zip`);
  const whole = Buffer.concat([header, raw]);
  writeFileSync(file, whole.subarray(0, whole.length - cut));
  const limit = whole.length;
  return {
    file,
    lho: 0,
    limit,
    readEnd: InflatePool.readEnd(0, raw.length, limit),
    method: 8,
    compressedSize: raw.length,
    size: data.length,
    crc32: crc32(data),
    target: join(dir, 'out', name),
    tmp: join(dir, 'out', `${name}.ferry-0123456789ab-0`),
    ...tweak,
  };
}

describe('InflatePool (worker threads)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-inflate-'));
  const out = join(dir, 'out');
  mkdirSync(out);
  const pool = new InflatePool(2);
  afterAll(() => pool.close());
  const data = Buffer.from('x,y,z\n'.repeat(5000));

  it('writes an entry whose size and CRC-32 match, and replaces a file already there', async () => {
    expect(await pool.run(entry(dir, 'a.csv', data))).toEqual({ ok: true });
    expect(readFileSync(join(out, 'a.csv')).equals(data)).toBe(true);
    writeFileSync(join(out, 'b.csv'), 'old');
    expect(await pool.run(entry(dir, 'b.csv', data))).toEqual({ ok: true });
    expect(readFileSync(join(out, 'b.csv')).equals(data)).toBe(true);
    expect(readdirSync(out).filter((f) => f.includes('ferry-part'))).toEqual([]);
  });

  it('refuses bad entries and writes nothing for them', async () => {
    const cases: Array<[string, InflateJob, string]> = [
      ['crc.csv', entry(dir, 'crc.csv', data, { crc32: 1 }), 'fails its CRC-32 check (corrupt data)'],
      [
        'big.csv',
        entry(dir, 'big.csv', data, { size: 100 }),
        'inflates to more than the 100 bytes its header declares',
      ],
      [
        'short.csv',
        entry(dir, 'short.csv', data, { size: data.length + 5 }),
        `holds ${data.length} bytes, its header declares ${data.length + 5}`,
      ],
      ['cut.csv', entry(dir, 'cut.csv', data, {}, 10), 'is cut short: the archive is truncated'],
      [
        'nohdr.csv',
        entry(dir, 'nohdr.csv', data, { lho: 1 }),
        'has no local header where the central directory points (corrupt archive)',
      ],
    ];
    for (const [name, job, reason] of cases) {
      expect(await pool.run(job), name).toEqual({ ok: false, refuse: reason });
      expect(existsSync(join(out, name)), name).toBe(false);
    }
  });

  it('reports a local I/O error with its errno code and syscall', async () => {
    const r = await pool.run(entry(dir, 'c.csv', data, { target: join(dir, 'missing-dir', 'c.csv') }));
    expect(r).toMatchObject({ ok: false, io: { code: 'ENOENT', syscall: 'open' } });
  });
});
