import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { TransferSettings } from '../config.ts';
import { FerryError, EXIT, isLocalIoError, localIoError } from '../errors.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import type { Progress } from '../progress.ts';
import { PartTracker } from '../ranges.ts';
import { downloadObject, getRange, headObject, listPrefix, type RemoteObject } from '../s3/download.ts';
import { classifyS3Error } from '../s3/errors.ts';
import { INPUT_TEMP_PREFIX, isZipName } from '../names.ts';
import { formatUri, isPrefix, type S3Uri } from '../uri.ts';
import { readCentralDirectory } from '../zip/central.ts';
import { extractEntries, freeBytes, limitFor, planExtraction } from '../zip/extract.ts';
import { InflatePool } from '../zip/inflate-pool.ts';

export interface FetchedInput {
  uri: string;
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
  /** Attempts per ranged GET whose body breaks off or stalls (--retries). */
  attempts: number;
  /** Paths (relative to the target dir) that belong to the caller: never written, skipped with a warning. */
  reserved?: (rel: string) => boolean;
  maxExtract?: number;
  endpoint?: string;
  signal?: AbortSignal;
  progress?: Progress;
}


/**
 * Brings each input into `dir`: `s3://b/k.zip` is extracted, any other object lands as
 * `dir/<last part of the key>`, a prefix keeps its relative paths (zips in it are extracted where
 * they land). Downloads go to a temp file first; a zip is removed once extracted.
 */
export async function fetchInputs(client: S3Client, uris: S3Uri[], dir: string, log: Log, opts: FetchOptions): Promise<FetchResult> {
  const started = Date.now();
  const jobs: Array<{ uri: S3Uri; obj: RemoteObject; rel: string }> = [];
  const inputs: FetchedInput[] = [];
  for (const uri of uris) {
    const ctx = { phase: 'download' as const, op: isPrefix(uri) ? 'listing the input prefix' : 'reading the input object', target: formatUri(uri), endpoint: opts.endpoint };
    if (isPrefix(uri)) {
      const objects = await listPrefix(client, uri, opts.signal).catch((err) => { throw classifyS3Error(err, ctx); });
      if (objects.length === 0) {
        throw new FerryError('the input prefix holds no objects', { phase: 'download', target: formatUri(uri), exitCode: EXIT.noInput, hint: 'check the prefix; keys are case-sensitive' });
      }
      for (const obj of objects) {
        jobs.push({ uri, obj, rel: obj.key.slice(uri.key.length) });
        inputs.push({ uri: formatUri({ bucket: uri.bucket, key: obj.key }), etag: obj.etag, size: obj.size });
      }
    } else {
      const obj = await headObject(client, uri, opts.signal).catch(async (err) => {
        const e = classifyS3Error(err, ctx);
        if (e.exitCode === EXIT.noInput) {
          const asPrefix = await listPrefix(client, { bucket: uri.bucket, key: `${uri.key}/` }, opts.signal).catch(() => []);
          if (asPrefix.length > 0) {
            return Promise.reject(new FerryError(e.message, { phase: 'download', target: e.target, exitCode: EXIT.noInput, hint: `no object has this key, but ${asPrefix.length} objects start with '${uri.key}/': add a trailing / to download the prefix` }));
          }
        }
        throw e;
      });
      jobs.push({ uri, obj, rel: posix.basename(uri.key) });
      inputs.push({ uri: formatUri(uri), etag: obj.etag, size: obj.size });
    }
  }

  const files: string[] = [];
  let bytes = 0;
  const down = opts.progress?.start('download', { bytes: jobs.reduce((n, j) => n + j.obj.size, 0), files: jobs.length });
  const extract = jobs.some((j) => isZipName(j.rel)) ? opts.progress?.start('extract') : undefined;
  const hooked: Hooked = { ...opts, onBytes: down?.addBytes, onFile: extract ? (n: number) => (extract.addBytes(n), extract.addFile()) : undefined };
  const perObject = pLimit(opts.transfer.filesInFlight);
  const results = await Promise.allSettled(
    jobs.map((job) =>
      perObject(async () => {
        const target = { bucket: job.uri.bucket, key: job.obj.key };
        const dest = join(dir, job.rel);
        if (opts.reserved?.(job.rel)) {
          log.warn(`not writing ${job.rel} from ${formatUri(target)}: the name belongs to ferry's own files in the run directory`);
          return;
        }
        if (isZipName(job.rel)) {
          const relDir = posix.dirname(job.rel);
          const skip = opts.reserved && ((rel: string) => opts.reserved!(relDir === '.' ? rel : `${relDir}/${rel}`));
          const onSkip = (entry: string) => log.warn(`not extracting '${entry}' from ${formatUri(target)}: the name belongs to ferry's own files in the run directory`);
          const out = await fetchZip(client, target, job.obj, dirname(dest), { ...hooked, skip, onSkip });
          for (const f of out) files.push(relDir === '.' ? f : posix.join(relDir, f));
          log.info(`extracted ${formatUri(target)}: ${out.length} files`);
        } else {
          await mkdir(dirname(dest), { recursive: true });
          const free = await freeBytes(dirname(dest));
          if (job.obj.size > free) {
            throw new FerryError(`the input is ${job.obj.size} bytes, more than the ${free} bytes free on this disk`, {
              phase: 'download', target: formatUri(target), exitCode: EXIT.ioErr, hint: 'use a node with more scratch space, or a smaller input',
            });
          }
          await downloadObject(client, target, job.obj, dest, downloadOpts(hooked)).catch((err) => {
            throw downloadError(err, target, dest, opts);
          });
          files.push(job.rel);
        }
        bytes += job.obj.size;
        down?.addFile();
      }),
    ),
  );
  if (down) opts.progress!.end(down);
  if (extract) opts.progress!.end(extract);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const ms = Date.now() - started;
  log.info(`input ready: ${jobs.length} object(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${formatRate(bytes, ms)})`);
  return { inputs, files: files.sort(), bytes };
}

/** Progress hooks and the entries to skip, filled in by fetchInputs. */
type Hooked = FetchOptions & { onBytes?: (n: number) => void; onFile?: (n: number) => void; skip?: (rel: string) => boolean; onSkip?: (entry: string) => void };

function downloadOpts(opts: Hooked) {
  return { partSize: opts.transfer.partSize, concurrency: opts.transfer.partsPerFile * 2, signal: opts.signal, onBytes: opts.onBytes, attempts: opts.attempts };
}

function downloadError(err: unknown, target: S3Uri, local: string, opts: FetchOptions): FerryError {
  if (isLocalIoError(err)) return localIoError(err, 'download', local);
  return classifyS3Error(err, { phase: 'download', op: 'downloading the input', target: formatUri(target), endpoint: opts.endpoint });
}

/**
 * A zip input: its central directory is read first with ranged GETs (so a hostile or broken
 * archive is refused before the rest is fetched), then the whole object downloads in parts while
 * entries are inflated as soon as their bytes are on disk. Returns the extracted relative paths.
 */
async function fetchZip(client: S3Client, target: S3Uri, obj: RemoteObject, destDir: string, opts: Hooked): Promise<string[]> {
  const pool = new InflatePool(); // its threads start while the central directory is fetched
  try {
    return await fetchZipWith(client, target, obj, destDir, { ...opts, pool });
  } finally {
    await pool.close();
  }
}

async function fetchZipWith(client: S3Client, target: S3Uri, obj: RemoteObject, destDir: string, opts: Hooked & { pool: InflatePool }): Promise<string[]> {
  const name = formatUri(target);
  const cd = await readCentralDirectory(name, obj.size, (s, e) => getRange(client, target, obj.etag, s, e, opts)).catch((err) => {
    throw err instanceof FerryError ? err : downloadError(err, target, destDir, opts);
  });
  await mkdir(destDir, { recursive: true });
  const plan = planExtraction(name, cd, { ...(await limitFor(destDir, opts.maxExtract, obj.size)), skip: opts.skip, onSkip: opts.onSkip });
  const tmp = join(destDir, `${INPUT_TEMP_PREFIX}${posix.basename(target.key)}`);
  const tracker = new PartTracker(opts.transfer.partSize, obj.size);
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const [dl, ex] = await Promise.allSettled([
      downloadObject(client, target, obj, tmp, { ...downloadOpts(opts), signal: stop.signal, inPlace: true, onWritten: (s, upTo) => tracker.advance(s, upTo) }).catch((err) => {
        tracker.fail(err);
        throw err;
      }),
      extractEntries(name, tmp, plan, destDir, { ready: (s, e) => tracker.waitFor(s, e), signal: stop.signal, onFile: opts.onFile, pool: opts.pool }).catch((err) => {
        stop.abort(err);
        throw err;
      }),
    ]);
    if (ex.status === 'rejected' && ex.reason instanceof FerryError) throw ex.reason;
    if (dl.status === 'rejected') throw downloadError(dl.reason, target, tmp, opts);
    if (ex.status === 'rejected') throw isLocalIoError(ex.reason) ? localIoError(ex.reason, 'extract', destDir) : ex.reason;
    return ex.value.files;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await rm(tmp, { force: true });
  }
}
