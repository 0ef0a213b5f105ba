import { mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { FerryError, isLocalIoError, localIoError } from '../errors.ts';
import { formatUri, type Location } from '../location.ts';
import { INPUT_TEMP_PREFIX } from '../names.ts';
import { PartTracker } from '../ranges.ts';
import { linked } from '../signals.ts';
import { downloadObject } from '../store/download.ts';
import type { ObjectInfo, Store } from '../store/store.ts';
import { readCentralDirectory } from '../zip/central.ts';
import { extractEntries, limitFor, planExtraction } from '../zip/extract.ts';
import { InflatePool } from '../zip/inflate-pool.ts';
import type { TransferSettings } from '../config.ts';

/** Transfer settings, progress hooks and the entries to leave out, filled in by fetchInputs. */
export interface ZipHooks {
  transfer: TransferSettings;
  maxExtract?: number;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  onFile?: (n: number) => void;
  skip?: (rel: string) => boolean;
  onSkip?: (entry: string) => void;
}

/** Ranged reads of one object: partSize each, two per part in flight of an upload. */
export function downloadOptions(h: ZipHooks) {
  return {
    partSize: h.transfer.partSize,
    concurrency: h.transfer.partsPerFile * 2,
    signal: h.signal,
    onBytes: h.onBytes,
  };
}

/** The central directory of a zip in a store, read with ranged reads (its end first). */
export function centralDirectoryOf(store: Store, loc: Location, obj: ObjectInfo, signal?: AbortSignal) {
  return readCentralDirectory(formatUri(loc), obj.size, async (start, end) => {
    const out = Buffer.allocUnsafe(end - start);
    await store.read(
      loc,
      obj.etag,
      [start, end],
      { phase: 'download', signal },
      (chunk, pos) => void chunk.copy(out, pos - start),
    );
    return out;
  });
}

/**
 * A zip input: its central directory is read first with ranged reads (so a hostile or broken
 * archive is refused before the rest is fetched), then the whole object downloads in parts while
 * entries are inflated as soon as their bytes are on disk. Returns the extracted relative paths.
 */
export async function fetchZip(
  store: Store,
  loc: Location,
  obj: ObjectInfo,
  destDir: string,
  opts: ZipHooks,
): Promise<string[]> {
  const pool = new InflatePool(); // its threads start while the central directory is fetched
  try {
    return await extractWhileDownloading(store, loc, obj, destDir, opts, pool);
  } finally {
    await pool.close();
  }
}

/** The first real failure of the pair: a refusal of the archive explains a download stopped because of it. */
function firstFailure(
  dl: PromiseSettledResult<void>,
  ex: PromiseSettledResult<{ files: string[] }>,
  tmp: string,
  destDir: string,
): unknown {
  if (ex.status === 'rejected' && ex.reason instanceof FerryError) return ex.reason;
  if (dl.status === 'rejected') return isLocalIoError(dl.reason) ? localIoError(dl.reason, 'download', tmp) : dl.reason;
  if (ex.status === 'rejected')
    return isLocalIoError(ex.reason) ? localIoError(ex.reason, 'extract', destDir) : ex.reason;
  return undefined;
}

async function extractWhileDownloading(
  store: Store,
  loc: Location,
  obj: ObjectInfo,
  destDir: string,
  opts: ZipHooks,
  pool: InflatePool,
): Promise<string[]> {
  const name = formatUri(loc);
  const cd = await centralDirectoryOf(store, loc, obj, opts.signal);
  await mkdir(destDir, { recursive: true });
  const limit = await limitFor(destDir, opts.maxExtract, obj.size);
  const plan = planExtraction(name, cd, { ...limit, skip: opts.skip, onSkip: opts.onSkip });
  const tmp = join(destDir, `${INPUT_TEMP_PREFIX}${posix.basename(loc.key)}`);
  const tracker = new PartTracker(opts.transfer.partSize, obj.size);
  const stop = new AbortController();
  const signal = linked(opts.signal, stop.signal);
  const onWritten = (s: number, upTo: number) => tracker.advance(s, upTo);
  const download = downloadObject(store, loc, obj, tmp, { ...downloadOptions(opts), signal, inPlace: true, onWritten });
  const ready = (s: number, e: number) => tracker.waitFor(s, e);
  const extract = extractEntries(name, tmp, plan, destDir, { ready, signal, onFile: opts.onFile, pool });
  try {
    const [dl, ex] = await Promise.allSettled([
      download.catch((err) => {
        tracker.fail(err);
        throw err;
      }),
      extract.catch((err) => {
        stop.abort(err);
        throw err;
      }),
    ]);
    const failure = firstFailure(dl, ex, tmp, destDir);
    if (failure) throw failure;
    return (ex as PromiseFulfilledResult<{ files: string[] }>).value.files;
  } finally {
    await rm(tmp, { force: true });
  }
}
