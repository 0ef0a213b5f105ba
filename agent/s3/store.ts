import { sdkParams } from './params.ts';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { S3Settings, TransferSettings } from '../config.ts';
import { checkHeap } from '../heap.ts';
import { formatUri, type Location } from '../location.ts';
import { BatchVerifier, type Seen, type VerifySource } from '../store/batch-verify.ts';
import { changedWhen } from '../store/changed.ts';
import type { ByteBudget } from '../store/budget.ts';
import { guarded } from '../store/rules.ts';
import type {
  Call,
  Fetched,
  FolderLister,
  Growing,
  GrowingUploads,
  ObjectInfo,
  PutBytesOptions,
  PutFileOptions,
  Store,
  Uploaded,
  Verdict,
} from '../store/store.ts';
import { S3_TERMS } from './terms.ts';
import type { Network } from '../net/index.ts';
import { classifyS3Error, httpStatus } from './errors.ts';
import { bareEtag, localEtag } from './etag.ts';
import { listFolders } from './folders.ts';
import { abortStaleUploads, growingMultipart } from './multipart.ts';
import { MAX_PARTS, partSizeFor } from './parts.ts';
import { fetchWhole, readRange } from './read.ts';
import { uploadFile } from './upload.ts';

const bare = bareEtag;
/** On S3 the digest of an object is its ETag (an MD5, or the MD5 of the part MD5s). */
const info = (key: string, size: number, etag: string, modified?: Date): ObjectInfo => ({
  key,
  size,
  etag,
  digest: etag,
  modified,
});
const isPrecondition = (err: unknown) =>
  httpStatus(err) === 412 || (err as { name?: string }).name === 'PreconditionFailed';

/**
 * The Store over S3 and S3-compatible servers (Ceph RGW, MinIO): one SDK client for the command,
 * the shared memory pool for every body, Content-MD5 on every write, and each failure classified
 * once, here (`op` names the operation in the message).
 */
export class S3Store implements Store, FolderLister, GrowingUploads {
  readonly terms = S3_TERMS;
  private readonly verifiers = new Map<string, BatchVerifier>();
  /** The server's clock against ours, learnt from the Date of every answer (agent/s3/renew.ts). */
  protected serverClock?: { offsetMs?: number };
  /** The server matches If-Match only against the bare ETag (Ceph RGW 16, measured). */
  private bareIfMatch = false;

  constructor(
    protected readonly client: S3Client,
    readonly where: string,
    private readonly s: S3Settings,
    private readonly t: TransferSettings,
    private readonly budget: ByteBudget,
    /** S3's 10,000 parts per upload; FERRY_TEST_MAX_PARTS lowers it so a test can reach it. */
    private readonly maxParts = MAX_PARTS,
    private readonly net?: Network,
  ) {}

  partFor(size: number): number {
    return Math.min(size, partSizeFor(size, this.t.partSize, this.maxParts));
  }

  protected guard<T>(op: string, loc: Location, call: Call, fn: () => Promise<T>): Promise<T> {
    return guarded(call, fn, (err) =>
      classifyS3Error(err, {
        phase: call.phase,
        op: call.what ?? op,
        target: formatUri(loc),
        endpoint: this.where,
        proxyRefusal: this.net?.refusal(),
      }),
    );
  }

  head(loc: Location, call: Call): Promise<ObjectInfo> {
    const op = call.phase === 'download' ? 'reading the input object' : 'reading an object';
    return this.guard(op, loc, call, async () => {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }), {
        abortSignal: call.signal,
      });
      return info(loc.key, h.ContentLength ?? 0, bare(h.ETag), h.LastModified);
    });
  }

  list(prefix: Location, call: Call): Promise<ObjectInfo[]> {
    const op = call.phase === 'download' ? 'listing the input prefix' : 'listing the prefix';
    return this.guard(op, prefix, call, async () => {
      const out: ObjectInfo[] = [];
      for await (const o of this.pages(prefix.bucket, prefix.key, undefined, call.signal))
        if (!o.key.endsWith('/')) out.push(o);
      return out;
    });
  }

  folders(prefix: Location, call: Call): Promise<string[]> {
    return this.guard('listing the prefix', prefix, call, () => listFolders(this.client, prefix, call.signal));
  }

  private async *pages(
    bucket: string,
    prefix: string,
    startAfter: string | undefined,
    signal?: AbortSignal,
    pageSize = 1000,
  ): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ContinuationToken: token,
          StartAfter: token ? undefined : startAfter,
          MaxKeys: pageSize,
        }),
        { abortSignal: signal },
      );
      for (const o of page.Contents ?? []) if (o.Key) yield info(o.Key, o.Size ?? 0, bare(o.ETag), o.LastModified);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      checkHeap();
    } while (token);
  }

  read(
    loc: Location,
    etag: string,
    range: [number, number],
    call: Call,
    onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
  ): Promise<void> {
    return this.guard('downloading the input', loc, call, () =>
      readRange(this.client, loc, etag, range, { attempts: this.s.maxAttempts, signal: call.signal }, onChunk).catch(
        changedWhen(isPrecondition, formatUri(loc)),
      ),
    );
  }

  fetch(loc: Location, call: Call): Promise<Fetched | undefined> {
    return this.guard('reading an object', loc, call, () =>
      fetchWhole(this.client, loc, call.signal, this.serverClock),
    );
  }

  putFile(file: string, size: number, dest: Location, o: PutFileOptions): Promise<Uploaded> {
    return this.guard('upload', dest, o, () =>
      uploadFile(this.client, file, size, dest, {
        partSize: this.t.partSize,
        maxParts: this.maxParts,
        partsPerFile: this.t.partsPerFile,
        budget: this.budget,
        signal: o.signal,
        objectParams: o.contentType ? { ...this.s.objectParams, ContentType: o.contentType } : this.s.objectParams,
        sha256: o.sha256,
        meter: o.meter,
      }),
    );
  }

  get growingPart(): number {
    return this.t.partSize;
  }

  growing(file: string, dest: Location, call: Call): Growing {
    const { partSize, partsPerFile } = this.t;
    const o = { file, dest, partSize, maxParts: this.maxParts, partsPerFile, budget: this.budget };
    return growingMultipart(this.client, o, this.s.objectParams, (fn) => this.guard('upload', dest, call, fn));
  }

  async putBytes(dest: Location, body: Buffer, o: PutBytesOptions): Promise<Uploaded | undefined> {
    const etag = await this.putSmall(dest, body, o);
    if (etag === undefined) return undefined;
    return { loc: dest, size: body.length, digest: createHash('md5').update(body).digest('hex'), etag };
  }

  /** One PutObject with Content-MD5 and the conditions asked for; its ETag, or undefined when a condition failed. */
  private putSmall(dest: Location, body: Buffer, o: PutBytesOptions): Promise<string | undefined> {
    return this.guard(`writing ${dest.key.slice(dest.key.lastIndexOf('/') + 1)}`, dest, o, async () => {
      const md5 = createHash('md5').update(body).digest();
      const send = async (ifMatch?: string) => {
        const put = new PutObjectCommand({
          Bucket: dest.bucket,
          Key: dest.key,
          Body: body,
          ContentLength: body.length,
          ContentMD5: md5.toString('base64'),
          ContentType: o.contentType,
          ...(o.ifAbsent ? { IfNoneMatch: '*' } : {}),
          ...(ifMatch ? { IfMatch: ifMatch } : {}),
          ...sdkParams(this.s.objectParams),
        });
        try {
          return bare((await this.client.send(put, { abortSignal: o.signal })).ETag) || md5.toString('hex');
        } catch (err) {
          if (isPrecondition(err)) return undefined;
          throw err;
        }
      };
      if (!o.ifEtag) return send();
      const written = await send(this.bareIfMatch ? o.ifEtag : `"${o.ifEtag}"`);
      if (written || this.bareIfMatch) return written;
      // Ceph RGW 16 refuses a quoted If-Match that is right: if the ETag is still ours, try it bare.
      const now = await this.client
        .send(new HeadObjectCommand({ Bucket: dest.bucket, Key: dest.key }), { abortSignal: o.signal })
        .catch(() => undefined);
      if (bare(now?.ETag) !== o.ifEtag) return undefined;
      const again = await send(o.ifEtag);
      this.bareIfMatch = again !== undefined;
      return again;
    });
  }

  remove(loc: Location, call: Call & { ifEtag?: string }): Promise<boolean> {
    return this.guard('deleting', loc, call, async () => {
      if (call.ifEtag !== undefined) {
        // Checked with HEAD first: Ceph RGW 16 ignores If-Match on DeleteObject (measured).
        const h = await this.client.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }), {
          abortSignal: call.signal,
        });
        if (bare(h.ETag) !== call.ifEtag) return false;
      }
      await this.client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.key }), {
        abortSignal: call.signal,
      });
      return true;
    });
  }

  verify(up: Uploaded, call: Call): Promise<Verdict> {
    let v = this.verifiers.get(up.loc.bucket);
    if (!v) {
      v = new BatchVerifier(this.verifySource(up.loc.bucket), { where: 'S3', digest: 'ETag' }, call.signal);
      this.verifiers.set(up.loc.bucket, v);
    }
    return this.guard('verifying the upload', up.loc, call, () => v.verify(up));
  }

  private verifySource(bucket: string): VerifySource {
    return {
      head: async (key, signal): Promise<Seen> => {
        const h = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
        // With SSE-KMS the ETag is not an MD5: only the size can be compared.
        const opaqueDigest = h.ServerSideEncryption === 'aws:kms' || h.ServerSideEncryption === 'aws:kms:dsse';
        return { size: h.ContentLength ?? -1, digest: bare(h.ETag), opaqueDigest };
      },
      list: (prefix, startAfter, signal, pageSize) => this.pages(bucket, prefix, startAfter, signal, pageSize),
    };
  }

  async fingerprint(file: string, size: number, signal?: AbortSignal): Promise<{ digest: string; sha256: string }> {
    const { etag, sha256 } = await localEtag(file, size, partSizeFor(size, this.t.partSize, this.maxParts), signal);
    return { digest: etag, sha256 };
  }

  abortUnfinished(prefix: Location, call: Call): Promise<number> {
    return this.guard('aborting unfinished uploads', prefix, call, () =>
      abortStaleUploads(this.client, prefix, call.signal),
    );
  }

  close(): void {
    this.client.destroy();
  }
}
