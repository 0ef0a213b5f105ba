import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Uploaded } from './upload.ts';

export interface Verdict {
  ok: boolean;
  /** Why the object does not match, in words. */
  reason?: string;
}

/**
 * HeadObject the uploaded key: its size and ETag must be what we sent. With SSE-KMS the ETag is
 * not an MD5, so only the size is compared (every request's Content-MD5 was checked by the server).
 */
export async function verifyUpload(client: S3Client, bucket: string, up: Uploaded, signal?: AbortSignal): Promise<Verdict> {
  const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: up.key }), { abortSignal: signal });
  const size = h.ContentLength ?? -1;
  const etag = (h.ETag ?? '').replace(/"/g, '');
  if (size !== up.size) return { ok: false, reason: `size in S3 is ${size}, local file is ${up.size}` };
  if (h.ServerSideEncryption === 'aws:kms' || h.ServerSideEncryption === 'aws:kms:dsse') return { ok: true };
  if (etag !== up.expectedEtag) return { ok: false, reason: `ETag in S3 is ${etag || '(none)'}, expected ${up.expectedEtag}` };
  return { ok: true };
}
