import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { backOff } from '../backoff.ts';
import type { ObjectParams } from '../config.ts';
import type { Location } from '../location.ts';
import { sendParts, type FileParts } from '../store/parts.ts';
import { bareEtag } from './etag.ts';
import { sdkParams } from './params.ts';

export interface PartsOptions {
  /** SSE and storage class, set on CreateMultipartUpload. */
  objectParams?: ObjectParams;
}

/**
 * Uploads a file as an S3 multipart upload, its parts sent by the one part pump of every store
 * (agent/store/parts.ts: workers pulling part numbers, each part from the pool with Content-MD5, so
 * the server refuses a corrupted one). On failure the pump has stopped and awaited every worker; the
 * upload is then aborted and the abort confirmed, and the first error rethrown. Returns the ETag S3
 * must report, md5(part md5s) + "-" + parts (the digest), and the one Complete returned (Ceph RGW has
 * sent none: then the digest).
 */
export async function uploadParts(
  client: S3Client,
  parts: FileParts,
  dest: Location,
  o: PartsOptions,
): Promise<{ digest: string; etag: string }> {
  const { bucket: Bucket, key: Key } = dest;
  const create = new CreateMultipartUploadCommand({ Bucket, Key, ...sdkParams(o.objectParams) });
  const UploadId = (await client.send(create, { abortSignal: parts.signal })).UploadId!;
  const md5s: Buffer[] = [];
  const etags: string[] = [];
  try {
    const count = await sendParts(parts, async (i, buf, md5, signal) => {
      const part = new UploadPartCommand({
        Bucket,
        Key,
        UploadId,
        PartNumber: i + 1,
        Body: buf,
        ContentLength: buf.length,
        ContentMD5: md5.toString('base64'),
      });
      const r = await client.send(part, { abortSignal: signal });
      if (!r.ETag) throw new Error(`part ${i + 1} was accepted without an ETag`);
      etags[i] = r.ETag;
      md5s[i] = md5;
    });
    const Parts = etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
    const complete = new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } });
    const done = await client.send(complete, { abortSignal: parts.signal });
    const digest = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${count}`;
    return { digest, etag: bareEtag(done.ETag) || digest };
  } catch (err) {
    await abortUpload(client, dest, UploadId).catch(() => {});
    throw err;
  }
}

/**
 * Aborts a multipart upload and checks that the server no longer lists it (on Ceph RGW an abort
 * has been seen to leave the upload listed); tries up to three times. Resolves true when gone.
 */
export async function abortUpload(client: S3Client, dest: Location, uploadId: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, UploadId: uploadId }))
      .catch((err) => {
        if ((err as { name?: string }).name !== 'NoSuchUpload') throw err;
      });
    const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: dest.bucket, Prefix: dest.key }));
    if (!(listed.Uploads ?? []).some((u) => u.UploadId === uploadId)) return true;
    await backOff(attempt + 1);
  }
  return false;
}

/** Aborts every unfinished multipart upload under `prefix` (left by an attempt that died). */
export async function abortStaleUploads(client: S3Client, prefix: Location, signal?: AbortSignal): Promise<number> {
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: prefix.bucket, Prefix: prefix.key }), {
    abortSignal: signal,
  });
  let n = 0;
  for (const u of listed.Uploads ?? []) {
    if (u.Key && u.UploadId && (await abortUpload(client, { ...prefix, key: u.Key }, u.UploadId))) n++;
  }
  return n;
}
