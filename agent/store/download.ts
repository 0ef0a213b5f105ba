import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Location } from '../location.ts';
import { oneOffTemps, type TempNames } from '../names.ts';
import { eachIndex } from '../workers.ts';
import type { Meter, ObjectInfo, Store } from './store.ts';

export interface DownloadOptions {
  /** Bytes per ranged read. */
  partSize: number;
  /** Ranged reads in flight for this object. Memory: a few socket buffers each, not partSize. */
  concurrency: number;
  signal?: AbortSignal;
  /** Where each chunk is counted as it arrives. */
  meter?: Meter;
  /** Called as the part starting at `start` lands: bytes [start, upTo) of it are on disk. */
  onWritten?: (start: number, upTo: number) => void;
  /** Write straight into `dest` (a temp file the caller removes) instead of a temp name + rename. */
  inPlace?: boolean;
  /**
   * Takes the parts of a chunk (at `pos` in the object) that it writes elsewhere, and returns the
   * pieces still to write into the file (a big stored zip entry goes straight to its own file).
   */
  divert?: (chunk: Buffer, pos: number) => Promise<Array<[Buffer, number]>>;
  /** Where the temp name comes from (a run's record of its own files); else a one-off name. */
  temps?: TempNames;
  /**
   * Parts whose bytes nothing waits to work on as they arrive (a zip's big stored entry: only a
   * CRC-32 at the end) are read after the others: the inflating runs while they arrive.
   */
  later?: (start: number, end: number) => boolean;
}

/**
 * Downloads one object into `dest` with parallel ranged reads written positionally into a
 * preallocated temp file, renamed into place only when every byte arrived. Every read names the
 * object's ETag, so an object replaced mid-download fails instead of mixing versions. The temp
 * file is removed on failure.
 */
export async function downloadObject(
  store: Store,
  loc: Location,
  obj: ObjectInfo,
  dest: string,
  opts: DownloadOptions,
): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const temps = opts.temps ?? oneOffTemps();
  const tmp = opts.inPlace ? dest : temps.temp(dest);
  await rm(tmp, { force: true }); // an earlier attempt's, killed mid-write
  const fh = await open(tmp, 'wx'); // wx: never through a link planted at that name
  try {
    if (obj.size > 0) await fh.truncate(obj.size);
    const ranges = partRanges(obj.size, opts.partSize, opts.later);
    // Every read returns before the file is closed (no write can land after close).
    await eachIndex(
      ranges.length,
      opts.concurrency,
      (i, signal) =>
        store.read(loc, obj.etag, ranges[i], { phase: 'download', signal }, async (chunk, pos) => {
          if (!opts.divert) await fh.write(chunk, 0, chunk.length, pos);
          else for (const [piece, at] of await opts.divert(chunk, pos)) await fh.write(piece, 0, piece.length, at);
          opts.meter?.addBytes(chunk.length);
          opts.onWritten?.(ranges[i][0], pos + chunk.length);
        }),
      { signal: opts.signal, stopOnError: true },
    );
    await fh.close();
    if (tmp !== dest) await rename(tmp, dest);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  } finally {
    if (tmp !== dest) temps.gone(tmp);
  }
}

/** The object's parts, [start, end) each, in the order they are read: the `later` ones last. */
export function partRanges(size: number, partSize: number, later?: (start: number, end: number) => boolean) {
  const first: Array<[number, number]> = [];
  const last: Array<[number, number]> = [];
  for (let start = 0; start < size; start += partSize) {
    const end = Math.min(size, start + partSize);
    (later?.(start, end) ? last : first).push([start, end]);
  }
  return [...first, ...last];
}
