import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { PartDigests } from './integrity.ts';
import type { S3Uri } from '../uri.ts';

export interface UploadFileOptions {
  /** Files up to this size go in one PutObject; larger ones as multipart with parts of this size. */
  partSize: number;
  /** Parts in flight for this file. Memory: at most partsPerFile × partSize bytes buffered. */
  partsPerFile: number;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

export interface Uploaded {
  key: string;
  size: number;
  /** The ETag S3 must report for these bytes (md5, or md5-of-md5s-N for multipart). */
  expectedEtag: string;
}

const MAX_PARTS = 10_000;

/** Uploads one local file to `dest`; the caller verifies it afterwards with HeadObject. */
export async function uploadFile(
  client: S3Client,
  digests: PartDigests,
  file: string,
  size: number,
  dest: S3Uri,
  opts: UploadFileOptions,
): Promise<Uploaded> {
  opts.signal?.throwIfAborted();
  const partSize = Math.max(opts.partSize, Math.ceil(size / MAX_PARTS));
  if (size <= partSize) {
    const body = await readFile(file);
    if (body.length !== size) throw Object.assign(new Error(`${file} changed size while being read`), { code: 'ECHANGED' });
    await client.send(new PutObjectCommand({ Bucket: dest.bucket, Key: dest.key, Body: body, ContentLength: size }), {
      abortSignal: opts.signal,
    });
    opts.onBytes?.(size);
    return { key: dest.key, size, expectedEtag: createHash('md5').update(body).digest('hex') };
  }
  digests.track(dest.bucket, dest.key);
  const upload = new Upload({
    client,
    params: { Bucket: dest.bucket, Key: dest.key, Body: createReadStream(file, { highWaterMark: 1024 * 1024 }), ContentLength: size },
    partSize,
    queueSize: opts.partsPerFile,
    leavePartsOnError: false,
  });
  let seen = 0;
  upload.on('httpUploadProgress', (p) => {
    if (p.loaded !== undefined && p.loaded > seen) {
      opts.onBytes?.(p.loaded - seen);
      seen = p.loaded;
    }
  });
  const onAbort = () => void upload.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.done();
  } catch (err) {
    digests.take(dest.bucket, dest.key);
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const expectedEtag = digests.take(dest.bucket, dest.key);
  if (!expectedEtag) throw new Error(`no part checksums were recorded for ${dest.key}`);
  return { key: dest.key, size, expectedEtag };
}
