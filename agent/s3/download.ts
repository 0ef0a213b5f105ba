import { open, rename, rm, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { formatUri, type S3Uri } from '../uri.ts';
import { PART_SUFFIX } from '../names.ts';
import { TransferError } from './errors.ts';

export interface RemoteObject {
  key: string;
  size: number;
  etag: string;
}

export interface DownloadOptions {
  /** Bytes per ranged GET. */
  partSize: number;
  /** Ranged GETs in flight for this object. Memory: a few socket buffers per GET, not partSize. */
  concurrency: number;
  signal?: AbortSignal;
  /** Called with each chunk's length as bytes arrive. */
  onBytes?: (n: number) => void;
  /** Called as the part starting at `start` lands: bytes [start, upTo) of it are on disk. */
  onWritten?: (start: number, upTo: number) => void;
  /** Write straight into `dest` (a temp file the caller removes) instead of `dest.ferry-part` + rename. */
  inPlace?: boolean;
  /** Attempts per range when its body breaks off or stalls (each resumes where the last one stopped). */
  attempts: number;
}

/**
 * Streams bytes [start, end) of an object to `onChunk` (with each chunk's offset). The SDK retries
 * a request that fails before its answer; a body that breaks off or stalls afterwards (the client's
 * socket timeout destroys a silent one) is asked for again from the first byte not yet received,
 * up to `attempts` times, with If-Match on the ETag so that a replaced object cannot mix in.
 */
async function streamRange(
  client: S3Client,
  u: S3Uri,
  etag: string,
  [start, end]: [number, number],
  o: { attempts: number; signal?: AbortSignal },
  onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
): Promise<void> {
  let pos = start;
  for (let attempt = 1; ; attempt++) {
    const res = await client.send(
      new GetObjectCommand({ Bucket: u.bucket, Key: u.key, Range: `bytes=${pos}-${end - 1}`, IfMatch: etag || undefined }),
      { abortSignal: o.signal },
    );
    const body = res.Body as Readable;
    let cause: unknown;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (pos + chunk.length > end) throw new TransferError('overrun', `the server sent more bytes than asked for (range ${start}-${end - 1} of ${formatUri(u)})`);
        await onChunk(chunk, pos);
        pos += chunk.length;
      }
    } catch (err) {
      if (err instanceof TransferError || o.signal?.aborted) throw err;
      cause = err;
    } finally {
      body.destroy();
    }
    if (pos === end) return;
    if (attempt >= o.attempts) {
      const why = cause ? `broke off (${(cause as Error).message})` : 'ended early';
      throw new TransferError('broken', `the body of range ${start}-${end - 1} of ${formatUri(u)} ${why} at byte ${pos}, ${attempt} time(s)`, cause);
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt * (0.5 + Math.random()))));
  }
}

/** Bytes [start, end) of an object, read whole (resumed as streamRange does). */
export async function getRange(client: S3Client, u: S3Uri, etag: string, start: number, end: number, o: { attempts: number; signal?: AbortSignal }): Promise<Buffer> {
  const out = Buffer.allocUnsafe(end - start);
  await streamRange(client, u, etag, [start, end], o, (chunk, pos) => void chunk.copy(out, pos - start));
  return out;
}

export async function headObject(client: S3Client, u: S3Uri, signal?: AbortSignal): Promise<RemoteObject> {
  const h = await client.send(new HeadObjectCommand({ Bucket: u.bucket, Key: u.key }), { abortSignal: signal });
  return { key: u.key, size: h.ContentLength ?? 0, etag: h.ETag ?? '' };
}

/** Every object under a prefix (directory markers ending in '/' left out), in key order. */
export async function listPrefix(client: S3Client, u: S3Uri, signal?: AbortSignal): Promise<RemoteObject[]> {
  const out: RemoteObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: u.bucket, Prefix: u.key, ContinuationToken: token }),
      { abortSignal: signal },
    );
    for (const o of page.Contents ?? []) {
      if (o.Key && !o.Key.endsWith('/')) out.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '' });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * Downloads one object into `dest` with parallel ranged GETs written positionally into a
 * preallocated temp file, renamed into place only when every byte arrived. Each GET carries
 * If-Match on the ETag, so an object replaced mid-download fails instead of mixing versions.
 * The temp file is removed on failure.
 */
export async function downloadObject(
  client: S3Client,
  u: S3Uri,
  obj: RemoteObject,
  dest: string,
  opts: DownloadOptions,
): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = opts.inPlace ? dest : `${dest}${PART_SUFFIX}`;
  const fh = await open(tmp, 'w');
  try {
    if (obj.size > 0) await fh.truncate(obj.size);
    const limit = pLimit(opts.concurrency);
    const ranges: Array<[number, number]> = [];
    for (let start = 0; start < obj.size; start += opts.partSize) {
      ranges.push([start, Math.min(obj.size, start + opts.partSize) - 1]);
    }
    const inner = new AbortController();
    const onAbort = () => inner.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const results = await Promise.allSettled(
        ranges.map(([a, b]) =>
          limit(async () => {
            inner.signal.throwIfAborted();
            await streamRange(client, u, obj.etag, [a, b + 1], { attempts: opts.attempts, signal: inner.signal }, async (chunk, pos) => {
              await fh.write(chunk, 0, chunk.length, pos);
              opts.onBytes?.(chunk.length);
              opts.onWritten?.(a, pos + chunk.length);
            });
          }).catch((err) => {
            inner.abort(err);
            throw err;
          }),
        ),
      );
      // Every GET has settled (no write can land after close); report the first real failure.
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw inner.signal.reason ?? failed.reason;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      limit.clearQueue();
    }
    await fh.close();
    if (tmp !== dest) await rename(tmp, dest);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}
