import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectParams } from '../config.ts';
import { verifyUpload } from '../s3/verify.ts';
import { MANIFEST, SUCCESS } from '../names.ts';
import { keyUnder, type S3Uri } from '../uri.ts';

export type RunStatus = 'complete' | 'solver-failed' | 'incomplete';

export interface Manifest {
  ferry: string;
  /** The same for every attempt of the row in one run directory. */
  run_id: string;
  status: RunStatus;
  started_at: string;
  ended_at: string;
  inputs: Array<{ uri: string; etag: string; size: number }>;
  solver: { argv: string[]; exit_code: number | null; signal: string | null; start_error?: string };
  outputs: Array<{ path: string; size: number; sha256: string; etag: string }>;
  /** Files that are not verified in S3 (they stay in the run directory). */
  not_uploaded: Array<{ path: string; error: string }>;
  /** Files the wipe leaves in the run directory, with the reason (not created by the run, links…). */
  kept: Array<{ path: string; reason: string }>;
}

async function putSmall(client: S3Client, prefix: S3Uri, name: string, body: Buffer, contentType: string, params: ObjectParams, signal?: AbortSignal): Promise<void> {
  const key = keyUnder(prefix, name);
  const md5 = createHash('md5').update(body).digest();
  await client.send(new PutObjectCommand({ Bucket: prefix.bucket, Key: key, Body: body, ContentLength: body.length, ContentMD5: md5.toString('base64'), ContentType: contentType, ...params }), { abortSignal: signal });
  const v = await verifyUpload(client, prefix.bucket, { key, size: body.length, expectedEtag: md5.toString('hex'), sha256: '' }, signal);
  if (!v.ok) throw new Error(`${name} did not verify: ${v.reason}`);
}

/**
 * Writes `<prefix>_manifest.json`, then — only for a complete run — the empty `<prefix>_SUCCESS`,
 * which is always the last object ferry writes under the prefix.
 */
export async function publishManifest(client: S3Client, prefix: S3Uri, m: Manifest, params: ObjectParams, signal?: AbortSignal): Promise<void> {
  await putSmall(client, prefix, MANIFEST, Buffer.from(`${JSON.stringify(m, null, 2)}\n`), 'application/json', params, signal);
  if (m.status === 'complete') await putSmall(client, prefix, SUCCESS, Buffer.alloc(0), 'application/octet-stream', params, signal);
}

/** A re-run first withdraws the old `_SUCCESS`, so the prefix never claims to be complete while it changes. */
export async function withdrawSuccess(client: S3Client, prefix: S3Uri, signal?: AbortSignal): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: prefix.bucket, Key: keyUnder(prefix, SUCCESS) }), { abortSignal: signal });
}
