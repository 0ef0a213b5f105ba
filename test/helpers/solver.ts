/** What fixtures/solver/fake-converge.c writes, recomputed here to check uploaded bytes. */
export function expectedOutputs(
  caseName: string,
  ranks: number,
  steps: number,
  volumeKiB: number,
): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let r = 0; r < ranks; r++) {
    let text = '';
    for (let s = 1; s <= steps; s++) text += `case=${caseName} rank=${r}/${ranks} step=${s} value=${(r + 1) * s}\n`;
    out.set(`output/rank_${r}.out`, Buffer.from(text));
  }
  out.set('output/summary.out', Buffer.from(`case=${caseName} ranks=${ranks} steps=${steps}\n`));
  if (volumeKiB > 0) {
    const v = Buffer.alloc(volumeKiB * 1024);
    for (let i = 0; i < v.length; i++) v[i] = (i * 31 + 7) & 0xff;
    out.set('post/volume.bin', v);
  }
  return out;
}

/** The bytes fixtures/solver/write-outputs.sh writes into results/part_<i>.bin (MIB MiB). */
export function partBytes(mib: number, i: number): Buffer {
  const block = Buffer.alloc(65536);
  for (let j = 0; j < block.length; j++) block[j] = (j * 7 + i) & 0xff;
  return Buffer.concat(Array.from({ length: mib * 16 }, () => block));
}
