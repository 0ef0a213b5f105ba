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
import type { ByteBudget } from './budget.ts';
import type { S3Uri } from '../uri.ts';

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

/** Fills `buf` from `pos`, or fails (the file shrank under us). */
export async function readExactly(fh: FileHandle, buf: Buffer, pos: number): Promise<Buffer> {
  const len = buf.length;
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) throw Object.assign(new Error(`file ended at byte ${pos + got}, expected ${pos + len}: it changed while being uploaded`), { code: 'ECHANGED' });
    got += bytesRead;
  }
  return buf;
}

/**
 * Multipart upload in the shape of lib-storage's Upload: `partsPerFile` workers pull part numbers
 * from one counter; every part carries Content-MD5 (the server refuses a corrupted part). On
 * failure every worker is stopped and awaited, the upload is aborted and the abort confirmed, and
 * the first error is rethrown. Returns the ETag S3 must report: md5(part md5s) + "-" + parts.
 */
export async function uploadParts(client: S3Client, fh: FileHandle, size: number, dest: S3Uri, opts: PartsOptions): Promise<string> {
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, ...opts.objectParams }), { abortSignal: opts.signal });
  const uploadId = created.UploadId!;
  const count = Math.ceil(size / opts.partSize);
  const md5s: Buffer[] = new Array(count);
  const etags: string[] = new Array(count);
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // Whole-file hashing (when asked for) needs the parts in order: a part read early waits for the
  // ones before it (holding its buffer, which stays counted in the budget until it has been hashed).
  const hashed: Array<() => void> = [];
  const hashedP = Array.from({ length: count }, (_, i) => new Promise<void>((r) => (hashed[i] = r)));
  const pending = new Map<number, Buffer>();
  let nextToHash = 0;
  const onOrdered = opts.onOrderedData;
  const hashInOrder = (i: number, buf: Buffer) => {
    if (!onOrdered) return hashed[i]();
    pending.set(i, buf);
    while (pending.has(nextToHash)) {
      onOrdered(pending.get(nextToHash)!);
      pending.delete(nextToHash);
      hashed[nextToHash++]();
    }
  };
  const stopped = new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true }));
  stopped.catch(() => {});
  let next = 0;
  const worker = async () => {
    while (next < count && !stop.signal.aborted) {
      const i = next++;
      const pos = i * opts.partSize;
      const len = Math.min(opts.partSize, size - pos);
      const { buf, release } = await opts.budget.take(len, stop.signal);
      try {
        await readExactly(fh, buf, pos);
        hashInOrder(i, buf);
        const md5 = createHash('md5').update(buf).digest();
        const r = await client.send(
          new UploadPartCommand({ Bucket: dest.bucket, Key: dest.key, UploadId: uploadId, PartNumber: i + 1, Body: buf, ContentLength: len, ContentMD5: md5.toString('base64') }),
          { abortSignal: stop.signal },
        );
        if (!r.ETag) throw new Error(`part ${i + 1} was accepted without an ETag`);
        etags[i] = r.ETag;
        md5s[i] = md5;
        opts.onBytes?.(len);
        await Promise.race([hashedP[i], stopped]);
      } finally {
        release();
      }
    }
  };
  try {
    const results = await Promise.allSettled(Array.from({ length: Math.min(opts.partsPerFile, count) }, () => worker().catch((err) => {
      stop.abort(err);
      throw err;
    })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed || stop.signal.aborted) throw failed?.reason ?? stop.signal.reason;
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: dest.bucket,
        Key: dest.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
      { abortSignal: opts.signal },
    );
  } catch (err) {
    await abortUpload(client, dest, uploadId).catch(() => {});
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${count}`;
}

/**
 * Aborts a multipart upload and checks that the server no longer lists it (on Ceph RGW an abort
 * has been seen to leave the upload listed); tries up to three times. Resolves true when gone.
 */
export async function abortUpload(client: S3Client, dest: S3Uri, uploadId: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, UploadId: uploadId })).catch((err) => {
      if ((err as { name?: string }).name !== 'NoSuchUpload') throw err;
    });
    const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: dest.bucket, Prefix: dest.key }));
    if (!(listed.Uploads ?? []).some((u) => u.UploadId === uploadId)) return true;
    await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
  }
  return false;
}

/** Aborts every unfinished multipart upload under `prefix` (left by an attempt that died). */
export async function abortStaleUploads(client: S3Client, prefix: S3Uri, signal?: AbortSignal): Promise<number> {
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: prefix.bucket, Prefix: prefix.key }), { abortSignal: signal });
  let n = 0;
  for (const u of listed.Uploads ?? []) {
    if (u.Key && u.UploadId && (await abortUpload(client, { bucket: prefix.bucket, key: u.Key }, u.UploadId))) n++;
  }
  return n;
}
