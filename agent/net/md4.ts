// MD4 (RFC 1320), for the NT hash of NTLM. Node 20's OpenSSL 3 leaves MD4 to the legacy provider,
// which is not loaded (crypto.getHashes() has no md4), so ferry carries this small one.

const S = [
  [3, 7, 11, 19],
  [3, 5, 9, 13],
  [3, 9, 11, 15],
];
const ORDER3 = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

/** The MD4 digest (16 bytes) of `data`. */
export function md4(data: Buffer): Buffer {
  const bitLen = data.length * 8;
  const padded = Buffer.alloc(Math.ceil((data.length + 9) / 64) * 64);
  data.copy(padded);
  padded[data.length] = 0x80;
  padded.writeUInt32LE(bitLen >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLen / 2 ** 32), padded.length - 4);
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const x = new Array<number>(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readUInt32LE(off + i * 4);
    let [a, b, c, d] = h;
    for (let i = 0; i < 48; i++) {
      const round = Math.floor(i / 16);
      const j = i % 16;
      let f: number;
      let k: number;
      if (round === 0) {
        f = (b & c) | (~b & d);
        k = j;
      } else if (round === 1) {
        f = ((b & c) | (b & d) | (c & d)) + 0x5a827999;
        k = (j % 4) * 4 + Math.floor(j / 4);
      } else {
        f = (b ^ c ^ d) + 0x6ed9eba1;
        k = ORDER3[j];
      }
      const t = rotl((a + f + x[k]) | 0, S[round][j % 4]);
      [a, b, c, d] = [d, t, b, c];
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
  }
  const out = Buffer.alloc(16);
  h.forEach((v, i) => out.writeInt32LE(v, i * 4));
  return out;
}
