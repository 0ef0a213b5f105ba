import { mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { FerryError, isLocalIoError, localIoError } from '../errors.ts';
import { formatUri, type Location } from '../location.ts';
import type { TempNames } from '../names.ts';
import { PartTracker } from '../ranges.ts';
import { linked } from '../signals.ts';
import { downloadObject } from '../store/download.ts';
import type { Meter, ObjectInfo, Store } from '../store/store.ts';
import { readCentralDirectory, type CentralDirectory } from '../zip/central.ts';
import { extractEntries, planExtraction, type PlannedEntry } from '../zip/extract.ts';
import { InflatePool } from '../zip/inflate-pool.ts';
import { StoredEntries } from './stored-entries.ts';
import type { TransferSettings } from '../config.ts';

/** Transfer settings, progress hooks and temp names, filled in by fetchInputs. */
export interface ZipHooks {
  transfer: TransferSettings;
  signal?: AbortSignal;
  /** The download's ledger: chunks counted as they arrive. */
  meter?: Meter;
  onFile?: (n: number) => void;
  temps: TempNames;
}

/** An archive read and checked before any of it is downloaded: its central directory and the entries to write. */
export interface ZipPlan {
  cd: CentralDirectory;
  entries: PlannedEntry[];
}

/**
 * Reads an archive's central directory (ranged reads, its end first) and checks every entry, so a
 * hostile or broken archive is refused before the rest is fetched. `skip`: entries (relative, '/')
 * left out with a call to `onSkip`.
 */
export async function planZip(
  store: Store,
  loc: Location,
  obj: ObjectInfo,
  o: { maxExtract?: number; signal?: AbortSignal; skip?: (rel: string) => boolean; onSkip?: (entry: string) => void },
): Promise<ZipPlan> {
  const cd = await centralDirectoryOf(store, loc, obj, o.signal);
  const limit = { maxBytes: o.maxExtract ?? Number.MAX_SAFE_INTEGER, limitName: 'the --max-extract limit' };
  return { cd, entries: planExtraction(formatUri(loc), cd, { ...limit, skip: o.skip, onSkip: o.onSkip }) };
}

/** Ranged reads of one object: partSize each, two per part in flight of an upload. */
export function downloadOptions(h: ZipHooks) {
  return {
    partSize: h.transfer.partSize,
    concurrency: h.transfer.partsPerFile * 2,
    signal: h.signal,
    meter: h.meter,
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
 * A zip input, planned (planZip): the whole object downloads in parts to a temp name beside its
 * entries while they are inflated as soon as their bytes are on disk. Returns the extracted relative paths.
 */
export async function fetchZip(
  store: Store,
  loc: Location,
  obj: ObjectInfo,
  destDir: string,
  zp: ZipPlan,
  opts: ZipHooks,
): Promise<string[]> {
  const pool = new InflatePool();
  try {
    return await extractWhileDownloading(store, loc, obj, destDir, zp.entries, opts, pool);
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
  plan: PlannedEntry[],
  opts: ZipHooks,
  pool: InflatePool,
): Promise<string[]> {
  const name = formatUri(loc);
  await mkdir(destDir, { recursive: true });
  const tmp = opts.temps.temp(join(destDir, posix.basename(loc.key)));
  const tracker = new PartTracker(opts.transfer.partSize, obj.size);
  const stop = new AbortController();
  const signal = linked(opts.signal, stop.signal);
  const onWritten = (s: number, upTo: number) => tracker.advance(s, upTo);
  // Big stored entries go straight to their files once the extraction has made (and checked) the folders.
  const src = { store, loc, obj, zip: name, signal };
  const { stored, onDirs, divert } = StoredEntries.start(plan, destDir, opts.temps, src);
  // The stored entries' parts last: only a CRC-32 waits for them, while the rest is inflated as it comes.
  const later = stored.any ? (s: number, e: number) => stored.within(s, e) : undefined;
  const to = { ...downloadOptions(opts), signal, inPlace: true, onWritten, divert, later };
  const download = downloadObject(store, loc, obj, tmp, to);
  const ready = (s: number, e: number) => tracker.waitFor(s, e);
  const landed = (p: PlannedEntry) => stored.landed(p);
  const eo = { ready, signal, onFile: opts.onFile, pool, temps: opts.temps, onDirs, landed };
  const extract = extractEntries(name, tmp, plan, destDir, eo);
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
    await stored.close().then(() => stored.removeLeft());
    await rm(tmp, { force: true });
    opts.temps.gone(tmp);
  }
}
