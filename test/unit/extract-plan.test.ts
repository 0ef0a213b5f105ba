import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import type { CentralDirectory, ZipEntry } from '../../agent/zip/central.ts';
import { freeBytes, planExtraction } from '../../agent/zip/extract.ts';
import { checkSpace } from '../../agent/transfer/landing.ts';

// The free-space check without a tiny filesystem (the e2e test needs root to mount one).

/** A central directory of stored entries laid out one after another. */
function cd(sizes: number[]): CentralDirectory {
  let at = 0;
  const entries = sizes.map((size, i): ZipEntry => {
    const name = `f${i}.bin`;
    const e = { name, method: 0, flags: 0, crc32: 0, compressedSize: size, size, localHeaderOffset: at };
    at += 30 + name.length + size;
    return { ...e, externalAttrs: 0, madeBy: 3 };
  });
  return { entries, offset: at };
}

function refusal(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FerryError) return err;
    throw err;
  }
  throw new Error('no refusal');
}

describe('planExtraction: the unpacked total against the limit', () => {
  const free = { maxBytes: 1000, limitName: 'the free disk space' };
  const flag = { maxBytes: 1000, limitName: 'the --max-extract limit' };

  it('accepts an archive that unpacks to exactly the limit', () => {
    expect(planExtraction('z.zip', cd([600, 400]), free).map((p) => p.rel)).toEqual(['f0.bin', 'f1.bin']);
  });

  it('more than the free space: exit 74 (local I/O), naming the total and the free bytes', () => {
    const e = refusal(() => planExtraction('z.zip', cd([600, 401]), free));
    expect(e.exitCode).toBe(74);
    expect(e.message).toBe('archive would unpack to 1001 bytes, more than the free disk space (1000 bytes)');
    expect(e.target).toBe('z.zip');
  });

  it('more than --max-extract: exit 65 (refused input)', () => {
    const e = refusal(() => planExtraction('z.zip', cd([600, 401]), flag));
    expect(e.exitCode).toBe(65);
    expect(e.message).toContain('more than the --max-extract limit (1000 bytes)');
  });
});

describe('freeBytes and checkSpace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-free-'));
  /** What df reports as available to an ordinary user (not the blocks reserved for root). */
  const dfAvail = () => Number(execFileSync('df', ['-B1', '--output=avail', dir], { encoding: 'utf8' }).split('\n')[1]);
  // Others may write to this disk meanwhile: the answer must lie between two df readings, give or take.
  const slack = 64 * 1024 * 1024;

  it('freeBytes is the space available to the user, as df shows it', async () => {
    const before = dfAvail();
    const got = await freeBytes(dir);
    const after = dfAvail();
    expect(got).toBeGreaterThanOrEqual(Math.min(before, after) - slack);
    expect(got).toBeLessThanOrEqual(Math.max(before, after) + slack);
    expect(await freeBytes('/proc')).toBe(0);
  });

  it('checkSpace: the objects and what the archives unpack to must fit the free space; 74 naming both', () => {
    expect(() => checkSpace({ objects: 10, unpacked: 20 }, 30, '/run')).not.toThrow();
    const MiB = 1024 * 1024;
    const e = refusal(() => checkSpace({ objects: 30 * MiB, unpacked: MiB }, 20 * MiB, '/run'));
    expect(e.exitCode).toBe(74);
    expect(e.message).toBe(
      'the input needs 31.0 MiB on disk (30.0 MiB downloaded, 1.0 MiB unpacked), ' +
        'more than the free disk space (20.0 MiB)',
    );
  });
});
