import { mkdir, realpath } from 'node:fs/promises';
import { dirname, join, posix, sep } from 'node:path';
import pLimit from 'p-limit';
import { SMALL_FILE, type TransferSettings } from '../config.ts';
import { FerryError, EXIT, isLocalIoError, localIoError } from '../errors.ts';
import { formatUri, isPrefix, withKey, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import { returnFreePages } from '../heap.ts';
import { oneOffTemps, type TempNames } from '../names.ts';
import type { Progress } from './progress.ts';
import { settleAll } from '../settle.ts';
import { ObjectChanged } from '../store/changed.ts';
import { downloadObject } from '../store/download.ts';
import type { Store } from '../store/store.ts';
import { downloadOptions, fetchZip, type ZipHooks } from './fetch-zip.ts';
import { planAll, replan, type Job, type Planned, type PlanOptions } from './input-plan.ts';
import { landingPath } from './key-path.ts';
import type { Snapshot } from '../rundir/tree.ts';
import { plural } from '../plural.ts';

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
  /** ferry run: the files that were in the run directory before ferry first ran (never overwritten). */
  before?: Snapshot;
  /** Temp names (a run's record of its own files); else one-off names. */
  temps?: TempNames;
  signal?: AbortSignal;
  progress?: Progress;
  /** The inputs planned already (ferry run plans them beside the lease); else planned here. */
  planned?: Promise<Planned[]>;
}

/** The store that serves a location (inputs may come from several). */
export type StoreOf = (loc: Location) => Promise<Store>;

/** How the inputs of a fetch with `opts` are planned (the same whether planned here or beforehand). */
export function planOptions(opts: FetchOptions): PlanOptions {
  return { ...opts, concurrency: opts.transfer.filesInFlight };
}

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
        jobs.push({ store, input: uri, loc: withKey(uri, obj.key), obj, rel: landingPath(uri, obj.key) });
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
    jobs.push({ store, input: uri, loc: uri, obj, rel: landingPath(uri, uri.key) });
  }
  return jobs;
}

/** One planned object into `dir`: a zip extracted where it lands, anything else as a file. Returns the local files. */
async function fetchPlanned(p: Planned, dir: string, log: Log, hooks: ZipHooks): Promise<string[]> {
  const { job } = p;
  const dest = join(dir, job.rel);
  if (!p.zip) {
    await fetchPlain(job, dir, dest, hooks);
    return [job.rel];
  }
  const relDir = posix.dirname(job.rel);
  const inDir = (rel: string) => (relDir === '.' ? rel : `${relDir}/${rel}`);
  await insideDir(dir, dirname(dest), job);
  const out = await fetchZip(job.store, job.loc, job.obj, dirname(dest), p.zip, hooks);
  log.info(`extracted ${formatUri(job.loc)}: ${plural(out.length, 'file')}`);
  return out.map(inDir);
}

/**
 * Fetches a planned object; one that changes during its download (another ETag) is planned again and
 * downloaded once more from the start, so the run gets one whole version of it (the manifest names it).
 */
async function fetchChanging(
  p: Planned,
  all: Planned[],
  dir: string,
  log: Log,
  hooks: ZipHooks,
  o: PlanOptions,
): Promise<string[]> {
  try {
    return await fetchPlanned(p, dir, log, hooks);
  } catch (err) {
    if (!(err instanceof ObjectChanged)) throw err;
    log.warn(`${formatUri(p.job.loc)} changed while it was downloaded: downloading it again from the start`);
    Object.assign(p, await replan(p, all, dir, log, o));
    return await fetchPlanned(p, dir, log, hooks).catch((e) => {
      throw e instanceof ObjectChanged ? new ObjectChanged(formatUri(p.job.loc), e, true) : e;
    });
  }
}

/**
 * Brings each input into `dir`: `s3://b/k.zip` is extracted, any other object lands as
 * `dir/<last part of the key>`, a prefix keeps its relative paths (zips in it are extracted where
 * they land). Every object is planned and checked first (input-plan.ts); downloads go to a temp file
 * first; a zip is removed once extracted.
 */
export async function fetchInputs(
  storeOf: StoreOf,
  uris: Location[],
  dir: string,
  log: Log,
  opts: FetchOptions,
): Promise<FetchResult> {
  const started = Date.now();
  const plan = planOptions(opts);
  const planned = await (opts.planned ?? planAll(await planInputs(storeOf, uris, opts.signal), dir, log, plan));
  const files: string[] = [];
  let bytes = 0;
  const down = opts.progress?.start('download', {
    bytes: planned.reduce((n, p) => n + p.job.obj.size, 0),
    files: planned.length,
  });
  const extract = planned.some((p) => p.zip) ? opts.progress?.start('extract') : undefined;
  const onFile = (n: number) => {
    extract?.addBytes(n);
    extract?.addFile();
  };
  const temps = opts.temps ?? oneOffTemps();
  const hooks: ZipHooks = { ...opts, temps, meter: down, onFile: extract && onFile };
  // Small objects take their own lane with many in flight, as uploads do.
  const big = pLimit(opts.transfer.filesInFlight);
  const small = pLimit(opts.transfer.smallInFlight);
  const one = async (p: Planned) => {
    if (!p.skipped) files.push(...(await fetchChanging(p, planned, dir, log, hooks, plan)));
    bytes += p.job.obj.size;
    down?.addFile();
  };
  try {
    await settleAll(planned.map((p) => (p.job.obj.size <= SMALL_FILE ? small : big)(() => one(p))));
  } finally {
    if (down) opts.progress!.end(down);
    if (extract) opts.progress!.end(extract);
  }
  const ms = Date.now() - started;
  const took = `${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${formatRate(bytes, ms)})`;
  log.info(`input ready: ${planned.length} object(s), ${took}`);
  returnFreePages(); // the download's buffers and the inflate threads' arenas: ~90 MiB of RSS on the bench row
  const inputs = planned.map(({ job }) => ({ uri: formatUri(job.loc), etag: job.obj.etag, size: job.obj.size }));
  return { inputs, files: files.sort(), bytes };
}

/** The folder a file is written to, made, must resolve inside `dir` (no link planted since the plan). */
async function insideDir(dir: string, folder: string, job: Job): Promise<void> {
  await mkdir(folder, { recursive: true }).catch((err) => {
    throw localIoError(err, 'download', folder);
  });
  const [root, real] = [await realpath(dir), await realpath(folder)];
  if (real === root || real.startsWith(root + sep)) return;
  throw new FerryError(`refusing the input: it would be written through a symbolic link (${folder} → ${real})`, {
    phase: 'download',
    target: formatUri(job.loc),
    exitCode: EXIT.dataErr,
    hint: 'remove the link from the run directory, or download into another directory',
  });
}

/** A plain object, downloaded in ranges to a temp name beside its place, renamed there once whole. */
async function fetchPlain(job: Job, dir: string, dest: string, hooks: ZipHooks): Promise<void> {
  await insideDir(dir, dirname(dest), job);
  const opts = { ...downloadOptions(hooks), temps: hooks.temps };
  await downloadObject(job.store, job.loc, job.obj, dest, opts).catch((err) => {
    throw isLocalIoError(err) ? localIoError(err, 'download', dest) : err;
  });
}
