// A big stored entry the download wrote straight into its temp file: checked (size, CRC-32) and
// renamed into place. Its CRC-32 comes from the pieces as they landed when they tile it, else from
// the file read back.
import { open, rename } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { oneOffTemps, type TempNames } from '../names.ts';
import { checkInflated } from './entry-checks.ts';
import { refuse, type PlannedEntry } from './plan.ts';

/** What the check needs of the extraction's options (extract.ts's ExtractOptions). */
interface LandedOptions {
  signal?: AbortSignal;
  temps?: TempNames;
}

/** An entry the download writes straight into its temp file (no copy of the archive in between). */
export interface LandedEntry {
  /** Where its data lies in the archive. */
  start: number;
  end: number;
  /** Its temp name beside its target, renamed into place once size and CRC-32 match. */
  tmp: string;
  /**
   * The CRC-32 of what was written into it, once every byte is there, when it could be kept as
   * the bytes went by; undefined: read it back for it.
   */
  crc?: () => number | undefined;
}

/**
 * A stored entry the download wrote straight into its temp file, every byte of it there: its CRC-32
 * (kept as the bytes were written, else read back from the page cache) and size checked, then renamed
 * into place.
 */
export async function checkLanded(
  zip: string,
  p: PlannedEntry,
  target: string,
  l: LandedEntry,
  opts: LandedOptions,
): Promise<void> {
  const kept = l.crc?.();
  const { n, crc } = kept === undefined ? await readBackCrc(l.tmp, opts.signal) : { n: l.end - l.start, crc: kept };
  const bad = checkInflated(n, crc, p.entry);
  if (bad) throw refuse(zip, p.entry.name, bad);
  await rename(l.tmp, target);
  (opts.temps ?? oneOffTemps()).gone(l.tmp);
}

/** A file's length and CRC-32, read back (from the page cache, just written). */
async function readBackCrc(file: string, signal?: AbortSignal): Promise<{ n: number; crc: number }> {
  const fh = await open(file, 'r');
  let n = 0;
  let crc = 0;
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, n);
      if (bytesRead === 0) break;
      crc = crc32(buf.subarray(0, bytesRead), crc);
      n += bytesRead;
      signal?.throwIfAborted();
    }
  } finally {
    await fh.close();
  }
  return { n, crc };
}
