import { mkdir } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import pLimit from 'p-limit';
import { SMALL_FILE, type TransferSettings } from '../config.ts';
import { FerryError, EXIT, isLocalIoError, localIoError } from '../errors.ts';
import { formatUri, isPrefix, withKey, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import { isZipName } from '../names.ts';
import type { Progress } from '../progress.ts';
import { settleAll } from '../settle.ts';
import { downloadObject } from '../store/download.ts';
import type { ObjectInfo, Store } from '../store/store.ts';
import { freeBytes } from '../zip/extract.ts';
import { downloadOptions, fetchZip, type ZipHooks } from './fetch-zip.ts';

export interface FetchedInput {
  uri: string;
  /** Bare, as every store hands ETags out. */
  etag: string;
  size: number;
}

export interface FetchResult {
  inputs: FetchedInput[];
  /** Local files (relative to the target dir) that came from the input, extracted or not. */
  files: string[];
  bytes: number;
}

export interface FetchOptions {
  transfer: TransferSettings;
  maxExtract?: number;
  /** Paths (relative to the target dir) that belong to the caller: never written, skipped with a warning. */
  reserved?: (rel: string) => boolean;
  signal?: AbortSignal;
  progress?: Progress;
}

/** One object to bring in, from which store, and where it lands (relative to the target dir). */
export interface Job {
  store: Store;
  loc: Location;
  obj: ObjectInfo;
  rel: string;
}

/** The store that serves a location (inputs may come from several). */
export type StoreOf = (loc: Location) => Promise<Store>;

/** Lists the input prefixes and HEADs the input objects: every object to fetch, before any byte moves. */
export async function planInputs(storeOf: StoreOf, uris: Location[], signal?: AbortSignal): Promise<Job[]> {
  const jobs: Job[] = [];
  const call = { phase: 'download' as const, signal };
  for (const uri of uris) {
    const store = await storeOf(uri);
    if (isPrefix(uri)) {
      const objects = await store.list(uri, call);
      if (objects.length === 0) {
        throw new FerryError('the input prefix holds no objects', {
          phase: 'download',
          target: formatUri(uri),
          exitCode: EXIT.noInput,
          hint: 'check the prefix; keys are case-sensitive',
        });
      }
      for (const obj of objects)
        jobs.push({ store, loc: withKey(uri, obj.key), obj, rel: obj.key.slice(uri.key.length) });
      continue;
    }
    const obj = await store.head(uri, call).catch(async (e: FerryError) => {
      if (e.exitCode !== EXIT.noInput) throw e;
      const asPrefix = await store.list(withKey(uri, `${uri.key}/`), call).catch(() => []);
      if (asPrefix.length === 0) throw e;
      throw new FerryError(e.message, {
        phase: 'download',
        target: e.target,
        exitCode: EXIT.noInput,
        hint:
          `no object has this key, but ${asPrefix.length} objects start with '${uri.key}/': ` +
          'add a trailing / to download the prefix',
      });
    });
    jobs.push({ store, loc: uri, obj, rel: posix.basename(uri.key) });
  }
  return jobs;
}

const OWN_NAME = "the name belongs to ferry's own files in the run directory";

/** One object into `dir`: a zip extracted where it lands, anything else as a file. Returns the local files. */
async function fetchJob(
  job: Job,
  dir: string,
  log: Log,
  hooks: ZipHooks,
  reserved?: (rel: string) => boolean,
): Promise<string[]> {
  const dest = join(dir, job.rel);
  if (reserved?.(job.rel)) {
    log.warn(`not writing ${job.rel} from ${formatUri(job.loc)}: ${OWN_NAME}`);
    return [];
  }
  if (!isZipName(job.rel)) {
    await fetchPlain(job, dest, hooks);
    return [job.rel];
  }
  const relDir = posix.dirname(job.rel);
  const inDir = (rel: string) => (relDir === '.' ? rel : `${relDir}/${rel}`);
  const skip = reserved && ((rel: string) => reserved(inDir(rel)));
  const onSkip = (entry: string) => log.warn(`not extracting '${entry}' from ${formatUri(job.loc)}: ${OWN_NAME}`);
  const out = await fetchZip(job.store, job.loc, job.obj, dirname(dest), { ...hooks, skip, onSkip });
  log.info(`extracted ${formatUri(job.loc)}: ${out.length} files`);
  return out.map(inDir);
}

/**
 * Brings each input into `dir`: `s3://b/k.zip` is extracted, any other object lands as
 * `dir/<last part of the key>`, a prefix keeps its relative paths (zips in it are extracted where
 * they land). Downloads go to a temp file first; a zip is removed once extracted.
 */
export async function fetchInputs(
  storeOf: StoreOf,
  uris: Location[],
  dir: string,
  log: Log,
  opts: FetchOptions,
): Promise<FetchResult> {
  const started = Date.now();
  const jobs = await planInputs(storeOf, uris, opts.signal);
  const files: string[] = [];
  let bytes = 0;
  const down = opts.progress?.start('download', {
    bytes: jobs.reduce((n, j) => n + j.obj.size, 0),
    files: jobs.length,
  });
  const extract = jobs.some((j) => isZipName(j.rel)) ? opts.progress?.start('extract') : undefined;
  const onFile = (n: number) => {
    extract?.addBytes(n);
    extract?.addFile();
  };
  const hooks: ZipHooks = { ...opts, onBytes: down?.addBytes, onFile: extract && onFile };
  // Small objects take their own lane with many in flight, as uploads do.
  const big = pLimit(opts.transfer.filesInFlight);
  const small = pLimit(opts.transfer.smallInFlight);
  const perObject = (job: Job) => (job.obj.size <= SMALL_FILE ? small : big);
  const one = async (job: Job) => {
    files.push(...(await fetchJob(job, dir, log, hooks, opts.reserved)));
    bytes += job.obj.size;
    down?.addFile();
  };
  try {
    await settleAll(jobs.map((job) => perObject(job)(() => one(job))));
  } finally {
    if (down) opts.progress!.end(down);
    if (extract) opts.progress!.end(extract);
  }
  const ms = Date.now() - started;
  const took = `${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${formatRate(bytes, ms)})`;
  log.info(`input ready: ${jobs.length} object(s), ${took}`);
  const inputs = jobs.map((j) => ({ uri: formatUri(j.loc), etag: j.obj.etag, size: j.obj.size }));
  return { inputs, files: files.sort(), bytes };
}

/** A plain object: refused up front when it cannot fit the disk, then downloaded in ranges. */
async function fetchPlain(job: Job, dest: string, hooks: ZipHooks): Promise<void> {
  await mkdir(dirname(dest), { recursive: true }).catch((err) => {
    throw localIoError(err, 'download', dirname(dest));
  });
  const free = await freeBytes(dirname(dest));
  if (job.obj.size > free) {
    throw new FerryError(`the input is ${job.obj.size} bytes, more than the ${free} bytes free on this disk`, {
      phase: 'download',
      target: formatUri(job.loc),
      exitCode: EXIT.ioErr,
      hint: 'use a node with more scratch space, or a smaller input',
    });
  }
  await downloadObject(job.store, job.loc, job.obj, dest, downloadOptions(hooks)).catch((err) => {
    throw isLocalIoError(err) ? localIoError(err, 'download', dest) : err;
  });
}
