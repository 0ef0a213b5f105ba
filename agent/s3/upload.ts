import { sdkParams } from './params.ts';
import { createHash, type Hash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectParams } from '../config.ts';
import type { Location } from '../location.ts';
import type { ByteBudget } from '../store/budget.ts';
import type { Meter, Uploaded } from '../store/store.ts';
import { bareEtag } from './etag.ts';
import { openForUpload, withWholeFile, type OpenFile } from '../store/parts.ts';
import { sendPut } from './direct-put.ts';
import { uploadParts } from './multipart.ts';
import { checkFits, partSizeFor } from './parts.ts';

export interface UploadFileOptions {
  /**
   * Files up to this size go in one PutObject; larger ones as multipart with parts of this size,
   * grown per file to stay within `maxParts` parts.
   */
  partSize: number;
  /** S3's limit of parts per upload (10,000; FERRY_TEST_MAX_PARTS lowers it for tests). */
  maxParts?: number;
  /** Parts of one file in flight. */
  partsPerFile: number;
  /** Bounds the bytes held in memory by all transfers together. */
  budget: ByteBudget;
  signal?: AbortSignal;
  /** Where the bytes sent are counted (the store kit counts them). */
  meter?: Meter;
  objectParams?: ObjectParams;
  /** Also hash the whole file with SHA-256 (for a manifest); false saves ~0.5 s of CPU per GiB. */
  sha256?: boolean;
}

/** A file of at most one part: one PutObject from a pool buffer. */
function putWhole(
  client: S3Client,
  fh: OpenFile,
  file: string,
  size: number,
  dest: Location,
  opts: UploadFileOptions,
  sha?: Hash,
): Promise<Uploaded> {
  const whole = { fh, file, size, budget: opts.budget, signal: opts.signal, meter: opts.meter };
  return withWholeFile(whole, async (body, md5) => {
    sha?.update(body);
    const put = new PutObjectCommand({
      Bucket: dest.bucket,
      Key: dest.key,
      Body: body,
      ContentLength: size,
      ContentMD5: md5.toString('base64'),
      ...sdkParams(opts.objectParams),
    });
    const r = await sendPut(client, put, opts.signal);
    const digest = md5.toString('hex');
    return { loc: dest, size, digest, etag: bareEtag(r.ETag) || digest, sha256: sha?.digest('hex') };
  });
}

/** Uploads one local file to `dest` with Content-MD5 on every request; the caller verifies it after. */
export async function uploadFile(
  client: S3Client,
  file: string,
  size: number,
  dest: Location,
  opts: UploadFileOptions,
): Promise<Uploaded> {
  opts.signal?.throwIfAborted();
  const partSize = partSizeFor(size, opts.partSize, opts.maxParts);
  checkFits(file, size, partSize);
  const fh = await openForUpload(file, size);
  try {
    const sha = opts.sha256 === false ? undefined : createHash('sha256');
    if (size <= partSize) return await putWhole(client, fh, file, size, dest, opts, sha);
    const { partsPerFile, budget, signal, meter, objectParams } = opts;
    const onOrdered = sha && ((b: Buffer) => void sha.update(b));
    const parts = { fh, file, size, partSize, partsPerFile, budget, signal, onOrdered, meter };
    const { digest, etag } = await uploadParts(client, parts, dest, { objectParams });
    return { loc: dest, size, digest, etag, sha256: sha?.digest('hex') };
  } finally {
    await fh.close();
  }
}
