import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectParams } from '../config.ts';
import type { ByteBudget } from './budget.ts';
import { readExactly, uploadParts } from './multipart.ts';
import type { S3Uri } from '../uri.ts';

export interface UploadFileOptions {
  /** Files up to this size go in one PutObject; larger ones as multipart with parts of this size. */
  partSize: number;
  /** Parts of one file in flight. */
  partsPerFile: number;
  /** Bounds the bytes held in memory by all transfers together. */
  budget: ByteBudget;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  objectParams?: ObjectParams;
  /** Also hash the whole file with SHA-256 (for a manifest); false saves ~0.5 s of CPU per GiB. */
  sha256?: boolean;
}

export interface Uploaded {
  key: string;
  size: number;
  /** The ETag S3 must report for these bytes (md5, or md5-of-part-md5s-N for multipart). */
  expectedEtag: string;
  /** SHA-256 of the bytes sent, hex (when asked for). */
  sha256?: string;
}

const MAX_PARTS = 10_000;

/** Uploads one local file to `dest` with Content-MD5 on every request; the caller verifies it after. */
export async function uploadFile(client: S3Client, file: string, size: number, dest: S3Uri, opts: UploadFileOptions): Promise<Uploaded> {
  opts.signal?.throwIfAborted();
  const partSize = opts.partSize;
  if (Math.ceil(size / partSize) > MAX_PARTS) {
    const need = Math.ceil(size / MAX_PARTS / (1024 * 1024));
    throw Object.assign(new Error(`${file} is ${size} bytes: more than ${MAX_PARTS} parts of ${partSize} bytes (the S3 limit)`), {
      code: 'ETOOBIG',
      hint: `re-run with --part-size ${need}MiB (or larger) and --memory at least that`,
    });
  }
  const fh = await open(file, 'r');
  try {
    const sha = opts.sha256 === false ? undefined : createHash('sha256');
    if (size <= partSize) {
      const { buf: body, release } = await opts.budget.take(size, opts.signal);
      try {
        await readExactly(fh, body, 0);
        const md5 = createHash('md5').update(body).digest();
        sha?.update(body);
        await client.send(
          new PutObjectCommand({ Bucket: dest.bucket, Key: dest.key, Body: body, ContentLength: size, ContentMD5: md5.toString('base64'), ...opts.objectParams }),
          { abortSignal: opts.signal },
        );
        opts.onBytes?.(size);
        return { key: dest.key, size, expectedEtag: md5.toString('hex'), sha256: sha?.digest('hex') };
      } finally {
        release();
      }
    }
    const expectedEtag = await uploadParts(client, fh, size, dest, {
      partSize,
      partsPerFile: opts.partsPerFile,
      budget: opts.budget,
      signal: opts.signal,
      onBytes: opts.onBytes,
      onOrderedData: sha && ((b) => sha.update(b)),
      objectParams: opts.objectParams,
    });
    return { key: dest.key, size, expectedEtag, sha256: sha?.digest('hex') };
  } finally {
    await fh.close();
  }
}
