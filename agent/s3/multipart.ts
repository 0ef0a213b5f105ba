import { sdkParams } from './params.ts';
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ObjectParams } from '../config.ts';
import type { Location } from '../location.ts';
import { settleAll } from '../settle.ts';
import { linked } from '../signals.ts';
import type { ByteBudget } from '../store/budget.ts';
import { InOrder, readExactly } from '../store/parts.ts';
import { bareEtag } from './etag.ts';

export interface PartsOptions {
  partSize: number;
  /** Parts of this file in flight. Memory: each holds one part, granted by `budget`. */
  partsPerFile: number;
  budget: ByteBudget;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** Called with each part's bytes in file order (for a whole-file hash). */
  onOrderedData?: (buf: Buffer) => void;
  /** SSE and storage class, set on CreateMultipartUpload. */
  objectParams?: ObjectParams;
}

/**
 * Multipart upload in the shape of lib-storage's Upload: `partsPerFile` workers pull part numbers
 * from one counter; every part carries Content-MD5 (the server refuses a corrupted part). On
 * failure every worker is stopped and awaited, the upload is aborted and the abort confirmed, and
 * the first error is rethrown. The ETag S3 must report is md5(part md5s) + "-" + parts.
 */
class PartsUpload {
  private readonly count: number;
  private readonly md5s: Buffer[];
  private readonly etags: string[];
  private readonly stop = new AbortController();
  private readonly stopped: AbortSignal;
  private readonly halted: Promise<never>;
  private readonly inOrder: InOrder;
  private next = 0;

  constructor(
    private readonly client: S3Client,
    private readonly fh: FileHandle,
    private readonly file: string,
    private readonly size: number,
    private readonly dest: Location,
    private readonly o: PartsOptions,
  ) {
    this.count = Math.ceil(size / o.partSize);
    this.md5s = new Array(this.count);
    this.etags = new Array(this.count);
    this.stopped = linked(o.signal, this.stop.signal);
    this.halted = new Promise<never>((_, reject) =>
      this.stopped.addEventListener('abort', () => reject(this.stopped.reason), { once: true }),
    );
    this.halted.catch(() => {});
    this.inOrder = new InOrder(o.onOrderedData);
  }

  /** The ETag S3 must report (the digest) and the one Complete returned (Ceph RGW has sent none: the digest). */
  async run(): Promise<{ digest: string; etag: string }> {
    const { Bucket, Key } = { Bucket: this.dest.bucket, Key: this.dest.key };
    const create = new CreateMultipartUploadCommand({ Bucket, Key, ...sdkParams(this.o.objectParams) });
    const uploadId = (await this.client.send(create, { abortSignal: this.o.signal })).UploadId!;
    try {
      const workers = Array.from({ length: Math.min(this.o.partsPerFile, this.count) }, () =>
        this.worker(uploadId).catch((err) => {
          this.stop.abort(err);
          throw err;
        }),
      );
      await settleAll(workers).catch((err) => {
        throw this.stop.signal.reason ?? err; // the failure that stopped the others
      });
      if (this.stopped.aborted) throw this.stopped.reason;
      const Parts = this.etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
      const complete = new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: { Parts },
      });
      const done = await this.client.send(complete, { abortSignal: this.o.signal });
      const digest = `${createHash('md5').update(Buffer.concat(this.md5s)).digest('hex')}-${this.count}`;
      return { digest, etag: bareEtag(done.ETag) || digest };
    } catch (err) {
      await abortUpload(this.client, this.dest, uploadId).catch(() => {});
      throw err;
    }
  }

  private async worker(uploadId: string): Promise<void> {
    while (this.next < this.count && !this.stopped.aborted) {
      const i = this.next++;
      const pos = i * this.o.partSize;
      const len = Math.min(this.o.partSize, this.size - pos);
      const { buf, release } = await this.o.budget.take(len, this.stopped);
      try {
        await readExactly(this.fh, buf, pos, this.file);
        const consumed = this.inOrder.add(i, buf);
        await this.sendPart(uploadId, i, buf);
        await Promise.race([consumed, this.halted]);
      } finally {
        release();
      }
    }
  }

  private async sendPart(uploadId: string, i: number, buf: Buffer): Promise<void> {
    const md5 = createHash('md5').update(buf).digest();
    const part = new UploadPartCommand({
      Bucket: this.dest.bucket,
      Key: this.dest.key,
      UploadId: uploadId,
      PartNumber: i + 1,
      Body: buf,
      ContentLength: buf.length,
      ContentMD5: md5.toString('base64'),
    });
    const r = await this.client.send(part, { abortSignal: this.stopped });
    if (!r.ETag) throw new Error(`part ${i + 1} was accepted without an ETag`);
    this.etags[i] = r.ETag;
    this.md5s[i] = md5;
    this.o.onBytes?.(buf.length);
  }
}

/** Uploads `size` bytes of `file` as a multipart upload (see PartsUpload); returns the ETag S3 must report. */
export function uploadParts(
  client: S3Client,
  fh: FileHandle,
  file: string,
  size: number,
  dest: Location,
  opts: PartsOptions,
): Promise<{ digest: string; etag: string }> {
  return new PartsUpload(client, fh, file, size, dest, opts).run();
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
    await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
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
