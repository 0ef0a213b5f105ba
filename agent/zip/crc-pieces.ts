// The CRC-32 of a file from the CRC-32s of its pieces, taken as they arrived in any order (the ranged
// reads of a download write a stored entry's bytes out of order): the pieces are put in order and
// their CRCs combined as zlib's crc32_combine does, so the file is not read back for it.
import { crc32 } from 'node:zlib';

/** The reflected CRC-32 polynomial (zlib's). */
const POLY = 0xedb88320;

/** a × b modulo the CRC polynomial (both reflected, x^0 in the top bit), as zlib's multmodp. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31 (zlib's x2n_table). */
const X2N: number[] = (() => {
  const t: number[] = [];
  let p = 0x40000000; // x^1
  t.push(p);
  for (let k = 1; k < 32; k++) t.push((p = multModP(p, p)));
  return t;
})();

/** x^(n · 2^k) modulo the polynomial (n may pass 2^32: a piece of a file over 4 GiB). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31], p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC-32 of A followed by B, from crc(A), crc(B) and B's length (zlib's crc32_combine). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}

/**
 * The CRC-32s of the pieces written into [start, end) of a file. `crc` is undefined unless the
 * pieces tile the span exactly, once each: a piece written twice (a read retried from an earlier
 * offset), overlapping or missing bytes leave the caller to read the file back instead.
 */
export class CrcPieces {
  private readonly pieces = new Map<number, { length: number; crc: number }>();
  private doubt = false;

  constructor(
    private readonly start: number,
    private readonly end: number,
  ) {}

  /** `bytes` were written at `at` (an offset in the same space as start and end). */
  add(at: number, bytes: Buffer): void {
    if (this.pieces.has(at)) this.doubt = true;
    this.pieces.set(at, { length: bytes.length, crc: crc32(bytes) });
  }

  /** The span's CRC-32, when its pieces tile it exactly; else undefined. */
  get crc(): number | undefined {
    if (this.doubt) return undefined;
    let at = this.start;
    let crc = 0;
    for (const pos of [...this.pieces.keys()].sort((a, b) => a - b)) {
      const p = this.pieces.get(pos)!;
      if (pos !== at) return undefined;
      crc = crc32Combine(crc, p.crc, p.length);
      at += p.length;
    }
    return at === this.end ? crc : undefined;
  }
}
