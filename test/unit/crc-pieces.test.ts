import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CrcPieces, crc32Combine } from '../../agent/zip/crc-pieces.ts';

/** `n` cut points in [0, size), sorted, from a seeded generator (the same pieces on every run). */
function cuts(size: number, n: number, seed: number): number[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return [...new Set(Array.from({ length: n }, () => Math.floor(next() * size)))].sort((a, b) => a - b);
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('the CRC-32 of a file from its pieces, in any order', () => {
  it('combines two CRCs as the CRC of the bytes one after the other', () => {
    for (const [a, b] of [
      [0, 1],
      [1, 0],
      [17, 65_536],
      [65_537, 3],
    ]) {
      const x = randomBytes(a);
      const y = randomBytes(b);
      expect(crc32Combine(crc32(x), crc32(y), b)).toBe(crc32(Buffer.concat([x, y])));
    }
  });

  it('lengths past 4 GiB combine as the sum of their parts (no 32-bit wrap)', () => {
    const [a, b, c] = [0x1234abcd, 0x0badf00d, 0x7fffffff];
    const [lb, lc] = [3_000_000_000, 2_500_000_001]; // lb + lc > 2^32
    expect(crc32Combine(crc32Combine(a, b, lb), c, lc)).toBe(crc32Combine(a, crc32Combine(b, c, lc), lb + lc));
    expect(crc32Combine(a, 0, 2 ** 32)).not.toBe(crc32Combine(a, 0, 0)); // x^(8·2^32) is not 1
  });

  it("pieces written out of order tile the span: its CRC is the whole file's", () => {
    const body = randomBytes(1_000_003);
    const at = [0, ...cuts(body.length, 40, 7)].filter((v, i, a) => a.indexOf(v) === i);
    const pieces = at.map((s, i): [number, Buffer] => [s, body.subarray(s, at[i + 1] ?? body.length)]);
    const p = new CrcPieces(0, body.length);
    for (const [s, b] of shuffled(pieces, 3)) p.add(s, b);
    expect(p.crc).toBe(crc32(body));
  });

  it('a gap, an overlap or a piece written twice leaves it unknown (the file is read back instead)', () => {
    const body = randomBytes(10_000);
    const gap = new CrcPieces(0, body.length);
    gap.add(0, body.subarray(0, 4_000));
    gap.add(4_001, body.subarray(4_001));
    expect(gap.crc).toBeUndefined();
    const overlap = new CrcPieces(0, body.length);
    overlap.add(0, body.subarray(0, 4_000));
    overlap.add(3_000, body.subarray(3_000));
    expect(overlap.crc).toBeUndefined();
    const twice = new CrcPieces(0, body.length);
    twice.add(0, body.subarray(0, 4_000));
    twice.add(4_000, body.subarray(4_000));
    twice.add(4_000, body.subarray(4_000));
    expect(twice.crc).toBeUndefined();
    const short = new CrcPieces(0, body.length);
    short.add(0, body.subarray(0, 9_999));
    expect(short.crc).toBeUndefined();
  });
});
