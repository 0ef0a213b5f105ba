import { rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { TransferSettings } from '../config.ts';
import { FerryError, EXIT, isLocalIoError, localIoError } from '../errors.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import { downloadObject, headObject, listPrefix, type RemoteObject } from '../s3/download.ts';
import { classifyS3Error } from '../s3/errors.ts';
import { formatUri, isPrefix, type S3Uri } from '../uri.ts';
import { extractZip } from '../zip/extract.ts';

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
  maxExtract?: number;
  endpoint?: string;
  signal?: AbortSignal;
}

const isZip = (key: string) => /\.zip$/i.test(key);

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
  const perObject = pLimit(opts.transfer.filesInFlight);
  const results = await Promise.allSettled(
    jobs.map((job) =>
      perObject(async () => {
        const target = { bucket: job.uri.bucket, key: job.obj.key };
        const dest = join(dir, job.rel);
        const local = isZip(job.rel) ? join(dirname(dest), `.ferry-input-${posix.basename(job.rel)}`) : dest;
        try {
          await downloadObject(client, target, job.obj, local, {
            partSize: opts.transfer.partSize,
            concurrency: opts.transfer.partsPerFile * 2,
            signal: opts.signal,
          });
        } catch (err) {
          if (isLocalIoError(err)) throw localIoError(err, 'download', local);
          throw classifyS3Error(err, { phase: 'download', op: 'downloading the input', target: formatUri(target), endpoint: opts.endpoint });
        }
        bytes += job.obj.size;
        if (!isZip(job.rel)) {
          files.push(job.rel);
          return;
        }
        try {
          const relDir = posix.dirname(job.rel);
          const out = await extractZip(local, dirname(dest), { maxBytes: opts.maxExtract, signal: opts.signal });
          for (const f of out.files) files.push(relDir === '.' ? f : posix.join(relDir, f));
          log.info(`extracted ${formatUri(target)}: ${out.files.length} files, ${formatBytes(out.bytes)}`);
        } finally {
          await rm(local, { force: true });
        }
      }),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const ms = Date.now() - started;
  log.info(`input ready: ${jobs.length} object(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${formatRate(bytes, ms)})`);
  return { inputs, files: files.sort(), bytes };
}
