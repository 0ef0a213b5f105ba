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
import { GrowingUpload, type GrowingOptions } from '../store/growing.ts';
import { sendParts, type FileParts } from '../store/parts.ts';
import { bareEtag } from './etag.ts';
import { sdkParams } from './params.ts';

export interface PartsOptions {
  /** SSE and storage class, set on CreateMultipartUpload. */
  objectParams?: ObjectParams;
}

/**
 * One S3 multipart upload, begun at its first part: parts sent with Content-MD5 (the server refuses
 * a corrupted one), each under its number (sent again, the later one counts), then completed with
 * the parts asked for, or aborted and the abort confirmed.
 */
export class Multipart {
  private id: Promise<string> | undefined;
  private readonly etags: string[] = [];

  constructor(
    private readonly client: S3Client,
    private readonly dest: Location,
    private readonly o: PartsOptions,
  ) {}

  private begin(signal?: AbortSignal): Promise<string> {
    if (this.id) return this.id;
    const { bucket: Bucket, key: Key } = this.dest;
    const create = new CreateMultipartUploadCommand({ Bucket, Key, ...sdkParams(this.o.objectParams) });
    const id = this.client.send(create, { abortSignal: signal }).then((r) => r.UploadId!);
    // A begin that failed is tried again by the next part.
    id.catch(() => this.id === id && (this.id = undefined));
    return (this.id = id);
  }

  async send(i: number, buf: Buffer, md5: Buffer, signal?: AbortSignal): Promise<void> {
    const part = new UploadPartCommand({
      Bucket: this.dest.bucket,
      Key: this.dest.key,
      UploadId: await this.begin(signal),
      PartNumber: i + 1,
      Body: buf,
      ContentLength: buf.length,
      ContentMD5: md5.toString('base64'),
    });
    const r = await this.client.send(part, { abortSignal: signal });
    if (!r.ETag) throw new Error(`part ${i + 1} was accepted without an ETag`);
    this.etags[i] = r.ETag;
  }

  /**
   * Completes the upload with parts 1 … md5s.length (their MD5s in order): the digest S3 must then
   * report, md5(part md5s) + "-" + parts, and the ETag Complete returned (Ceph RGW has sent none: then
   * the digest).
   */
  async commit(md5s: Buffer[], signal?: AbortSignal): Promise<{ digest: string; etag: string }> {
    const Parts = md5s.map((_, i) => ({ ETag: this.etags[i], PartNumber: i + 1 }));
    const { bucket: Bucket, key: Key } = this.dest;
    const UploadId = await this.begin(signal);
    const complete = new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } });
    const done = await this.client.send(complete, { abortSignal: signal });
    const digest = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${md5s.length}`;
    return { digest, etag: bareEtag(done.ETag) || digest };
  }

  /** Aborts the upload, if it was begun (see abortUpload). */
  async abort(): Promise<void> {
    const id = await this.id?.catch(() => undefined);
    this.id = undefined;
    if (id) await abortUpload(this.client, this.dest, id);
  }
}

/**
 * Uploads a file as an S3 multipart upload, its parts sent by the one part pump of every store
 * (agent/store/parts.ts: workers pulling part numbers, each part from the pool with Content-MD5). On
 * failure the pump has stopped and awaited every worker; the upload is then aborted and the abort
 * confirmed, and the first error rethrown. Returns the digest and ETag (see Multipart.commit).
 */
export async function uploadParts(
  client: S3Client,
  parts: FileParts,
  dest: Location,
  o: PartsOptions,
): Promise<{ digest: string; etag: string }> {
  const upload = new Multipart(client, dest, o);
  const md5s: Buffer[] = [];
  try {
    await sendParts(parts, async (i, buf, md5, signal) => {
      await upload.send(i, buf, md5, signal);
      md5s[i] = md5;
    });
    return await upload.commit(md5s, parts.signal);
  } catch (err) {
    await upload.abort().catch(() => {});
    throw err;
  }
}

/** A growing upload (agent/store/growing.ts) as one S3 multipart upload; `guard` classifies its failures. */
export function growingMultipart(
  client: S3Client,
  o: GrowingOptions,
  objectParams: ObjectParams | undefined,
  guard: <T>(fn: () => Promise<T>) => Promise<T>,
): GrowingUpload {
  const mp = new Multipart(client, o.dest, { objectParams });
  return new GrowingUpload(o, {
    send: (i, buf, md5, signal) => guard(() => mp.send(i, buf, md5, signal)),
    commit: (md5s, signal) => guard(() => mp.commit(md5s, signal)),
    abort: () => mp.abort().catch(() => {}),
  });
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
