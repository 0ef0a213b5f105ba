// The data of scripts/bench (S3) and scripts/bench-azure.ts, generated once under .build/bench.
import { createCipheriv } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

const MiB = 1024 * 1024;

/** `bytes` of incompressible data, the same for the same seed (AES-CTR of zeros). */
export function randomFile(path: string, bytes: number, seed: number): void {
  const key = Buffer.alloc(16, seed);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  writeFileSync(path, Buffer.concat([c.update(Buffer.alloc(bytes)), c.final()]));
}

/** The benches' data in DATA, made once: the ~1 GiB put tree and the 2,000-entry get.zip. */
export async function ensureData(DATA: string): Promise<void> {
  const marker = join(DATA, '.data-v1');
  if (!existsSync(marker)) {
    console.log('bench: generating data (once) in', DATA);
    rmSync(DATA, { recursive: true, force: true });
    mkdirSync(join(DATA, 'put/small'), { recursive: true });
    for (let i = 0; i < 8; i++) randomFile(join(DATA, `put/big_${i}.bin`), 100 * MiB, i + 1);
    randomFile(join(DATA, 'put/huge.bin'), 200 * MiB, 99);
    for (let i = 0; i < 500; i++)
      randomFile(join(DATA, `put/small/f_${String(i).padStart(3, '0')}.dat`), 1024 * (1 + ((i * 37) % 64)), i);
    // 2,000 compressible entries of ~128 KiB (CSV-like numbers), zipped by Info-ZIP.
    let x = 12345;
    for (let d = 0; d < 20; d++) {
      const dir = join(DATA, `get-src/case/d_${d}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 100; f++) {
        const lines: string[] = [];
        let size = 0;
        while (size < 128 * 1024) {
          x = (x * 1103515245 + 12345) & 0x7fffffff;
          const kind = x % 7 === 0 ? 'wall' : 'fluid';
          const line = `${d},${f},${(x % 100000) / 1000},${((x >> 7) % 5000) / 100},${kind}\n`;
          lines.push(line);
          size += line.length;
        }
        writeFileSync(join(dir, `cell_${f}.csv`), lines.join(''));
      }
    }
    await execa('zip', ['-q', '-r', join(DATA, 'get.zip'), 'case'], { cwd: join(DATA, 'get-src') });
    writeFileSync(marker, '');
  }
}
