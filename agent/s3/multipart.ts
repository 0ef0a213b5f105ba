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
import { EXIT, FerryError } from '../errors.ts';
import type { Location } from '../location.ts';
import { settleAll } from '../settle.ts';
import type { ByteBudget } from '../store/budget.ts';

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

/** Fills `buf` from `pos` of `file`, or fails with 73 (the file shrank under us). */
export async function readExactly(fh: FileHandle, buf: Buffer, pos: number, file: string): Promise<Buffer> {
  const len = buf.length;
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) {
      throw new FerryError(
        `the file ended at byte ${pos + got}, expected ${pos + len}: it changed while being uploaded`,
        {
          phase: 'upload',
          target: file,
          exitCode: EXIT.cantCreate,
          hint: 'something still writes it; it is uploaded again once it settles, or re-run the row',
        },
      );
    }
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
export async function uploadParts(
  client: S3Client,
  fh: FileHandle,
  file: string,
  size: number,
  dest: Location,
  opts: PartsOptions,
): Promise<string> {
  const created = await client.send(
    new CreateMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, ...sdkParams(opts.objectParams) }),
    { abortSignal: opts.signal },
  );
  const uploadId = created.UploadId!;
  const count = Math.ceil(size / opts.partSize);
  const md5s: Buffer[] = new Array(count);
  const etags: string[] = new Array(count);
  const stop = new AbortController();
  const stopped = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
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
  const halted = new Promise<never>((_, reject) =>
    stopped.addEventListener('abort', () => reject(stopped.reason), { once: true }),
  );
  halted.catch(() => {});
  let next = 0;
  const worker = async () => {
    while (next < count && !stopped.aborted) {
      const i = next++;
      const pos = i * opts.partSize;
      const len = Math.min(opts.partSize, size - pos);
      const { buf, release } = await opts.budget.take(len, stopped);
      try {
        await readExactly(fh, buf, pos, file);
        hashInOrder(i, buf);
        const md5 = createHash('md5').update(buf).digest();
        const r = await client.send(
          new UploadPartCommand({
            Bucket: dest.bucket,
            Key: dest.key,
            UploadId: uploadId,
            PartNumber: i + 1,
            Body: buf,
            ContentLength: len,
            ContentMD5: md5.toString('base64'),
          }),
          { abortSignal: stopped },
        );
        if (!r.ETag) throw new Error(`part ${i + 1} was accepted without an ETag`);
        etags[i] = r.ETag;
        md5s[i] = md5;
        opts.onBytes?.(len);
        await Promise.race([hashedP[i], halted]);
      } finally {
        release();
      }
    }
  };
  try {
    const workers = Array.from({ length: Math.min(opts.partsPerFile, count) }, () =>
      worker().catch((err) => {
        stop.abort(err);
        throw err;
      }),
    );
    await settleAll(workers).catch((err) => {
      throw stop.signal.reason ?? err; // the failure that stopped the others
    });
    if (stopped.aborted) throw stopped.reason;
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
  }
  return `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${count}`;
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
