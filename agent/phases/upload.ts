import { join } from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit, { type LimitFunction } from 'p-limit';
import type { ObjectParams, TransferSettings } from '../config.ts';
import { EXIT, isAbort, isLocalIoError } from '../errors.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import type { ByteBudget } from '../s3/budget.ts';
import { classifyS3Error } from '../s3/errors.ts';
import { localEtag } from '../s3/etag.ts';
import { uploadFile, type Uploaded } from '../s3/upload.ts';
import { BatchVerifier } from '../s3/verify.ts';
import { formatUri, keyUnder, type S3Uri } from '../uri.ts';
import type { PhaseProgress } from '../progress.ts';
import { fileState, sameFile, type FileState } from './outputs.ts';

export interface UploadOutcome {
  rel: string;
  size: number;
  key: string;
  etag?: string;
  sha256?: string;
  verified: boolean;
  /** The local file when it was read (size, mtime, ctime, inode), if it did not change during the upload. */
  state?: FileState;
  /** True when the object was already in S3 with these bytes (a re-run) and was not sent again. */
  resumed?: boolean;
  /** True when this is the upload made while the solver ran (the file has not changed since). */
  live?: boolean;
  error?: string;
  exitCode?: number;
}

export interface UploadSummary {
  outcomes: UploadOutcome[];
  bytes: number;
  ms: number;
  failed: UploadOutcome[];
}

export interface UploaderDeps {
  client: S3Client;
  budget: ByteBudget;
  dir: string;
  prefix: S3Uri;
  transfer: TransferSettings;
  log: Log;
  signal?: AbortSignal;
  endpoint?: string;
  onBytes?: (n: number) => void;
  /** Objects already under the prefix (key → size, ETag): a file with the same bytes is not sent again. */
  existing?: Map<string, { size: number; etag: string }>;
  objectParams?: ObjectParams;
  /** Hash each file with SHA-256 for the manifest (ferry run); ferry put writes none. */
  sha256?: boolean;
}

type Base = { rel: string; size: number; key: string };
/** A file sent, not yet verified. */
type Sent = { base: Base; up: Uploaded; state?: FileState };

/**
 * Uploads files of one run directory under one prefix, `filesInFlight` at a time (shared by live
 * and final uploads), each then verified in S3 (size + ETag) by a BatchVerifier. A failure is
 * recorded per file; the others go on.
 */
export class Uploader {
  private readonly limit: LimitFunction;
  bytes = 0;
  resumed = 0;
  /** The progress counters uploads report to (set by the caller per phase). */
  phase: PhaseProgress | undefined;
  private readonly verifier: BatchVerifier;

  constructor(private readonly d: UploaderDeps) {
    this.limit = pLimit(d.transfer.filesInFlight);
    this.verifier = new BatchVerifier(d.client, d.prefix.bucket, d.signal);
  }

  get prefix(): S3Uri {
    return this.d.prefix;
  }

  upload(rel: string): Promise<UploadOutcome> {
    // Verification waits outside the files-in-flight limit, so it can batch many files at once.
    return this.limit(() => this.send(rel)).then((s) => ('outcome' in s ? s.outcome : this.confirm(s)));
  }

  private async send(rel: string): Promise<{ outcome: UploadOutcome } | Sent> {
    const { d } = this;
    const dest = { bucket: d.prefix.bucket, key: keyUnder(d.prefix, rel) };
    const path = join(d.dir, rel);
    const before = await fileState(path);
    const base = { rel, size: before?.size ?? 0, key: dest.key };
    try {
      if (!before) throw Object.assign(new Error(`${rel} disappeared before it could be uploaded`), { code: 'ENOENT', syscall: 'lstat' });
      const prior = d.existing?.get(dest.key);
      if (prior && prior.size === before.size) {
        const local = await localEtag(path, before.size, d.transfer.partSize, d.signal);
        if (local.etag === prior.etag.replace(/"/g, '')) {
          this.resumed++;
          this.phase?.addFile();
          d.log.detail(`already in S3 with the same bytes, not sent again: ${rel}`);
          return { outcome: { ...base, etag: local.etag, sha256: local.sha256, verified: true, state: before, resumed: true } };
        }
      }
      const up = await uploadFile(d.client, path, before.size, dest, {
        partSize: d.transfer.partSize,
        partsPerFile: d.transfer.partsPerFile,
        budget: d.budget,
        signal: d.signal,
        objectParams: d.objectParams,
        sha256: d.sha256 ?? true,
        onBytes: (n) => {
          d.onBytes?.(n);
          this.phase?.addBytes(n);
        },
      });
      return { base, up, state: sameFile(before, await fileState(path)) ? before : undefined };
    } catch (err) {
      return { outcome: this.failure(base, err) };
    }
  }

  private async confirm(s: Sent): Promise<UploadOutcome> {
    const { d } = this;
    try {
      const v = await this.verifier.verify(s.up);
      if (!v.ok) {
        d.log.error(`verify failed for ${formatUri({ bucket: d.prefix.bucket, key: s.up.key })}: ${v.reason}`);
        return { ...s.base, verified: false, error: v.reason, exitCode: EXIT.cantCreate };
      }
    } catch (err) {
      return this.failure(s.base, err);
    }
    this.bytes += s.up.size;
    this.phase?.addFile();
    d.log.detail(`uploaded ${s.base.rel} (${s.up.size} bytes), verified`);
    return { ...s.base, etag: s.up.expectedEtag, sha256: s.up.sha256, verified: true, state: s.state };
  }

  private failure(base: Base, err: unknown): UploadOutcome {
    const { d } = this;
    if (isAbort(err)) return { ...base, verified: false, error: 'cancelled', exitCode: EXIT.cantCreate };
    const code = (err as { code?: string }).code;
    const target = formatUri({ bucket: d.prefix.bucket, key: base.key });
    const e = isLocalIoError(err) || code === 'ECHANGED' || code === 'ETOOBIG'
      ? { message: `upload: cannot upload ${base.rel}: ${(err as Error).message}${(err as { hint?: string }).hint ? `\n  hint: ${(err as { hint?: string }).hint}` : ''}`, exitCode: EXIT.cantCreate }
      : (() => {
          const c = classifyS3Error(err, { phase: 'upload', op: 'upload', target, endpoint: d.endpoint });
          // Once uploads are under way, a lost endpoint is an upload that failed (73); auth stays 77.
          return { message: c.render(), exitCode: c.exitCode === EXIT.unavailable ? EXIT.cantCreate : c.exitCode };
        })();
    d.log.error(e.message);
    return { ...base, verified: false, error: e.message, exitCode: e.exitCode };
  }

  /**
   * Removes an object this run uploaded whose local file is gone (a solver's temporary file), only if
   * it still has the ETag of that upload: an object someone else wrote since is never deleted
   * (HeadObject first: Ceph RGW 16 ignores If-Match on DeleteObject, measured). Returns false then.
   */
  async remove(rel: string, etag: string): Promise<boolean> {
    const Key = keyUnder(this.d.prefix, rel);
    const h = await this.d.client.send(new HeadObjectCommand({ Bucket: this.d.prefix.bucket, Key }), { abortSignal: this.d.signal });
    if ((h.ETag ?? '').replace(/"/g, '') !== etag.replace(/"/g, '')) return false;
    await this.d.client.send(new DeleteObjectCommand({ Bucket: this.d.prefix.bucket, Key }), { abortSignal: this.d.signal });
    return true;
  }
}

/**
 * Uploads `files` and logs one summary line. `reuse` may supply an upload already made for a file
 * (a live upload of the same bytes); it is awaited per file, so uploads still under way overlap
 * the ones this call starts.
 */
export async function uploadTree(up: Uploader, files: string[], log: Log, reuse?: (rel: string) => Promise<UploadOutcome | undefined>): Promise<UploadSummary> {
  const prefix = up.prefix;
  const started = Date.now();
  const bytes0 = up.bytes;
  const outcomes = await Promise.all(files.map(async (rel) => (await reuse?.(rel)) ?? up.upload(rel)));
  const ms = Date.now() - started;
  const bytes = up.bytes - bytes0;
  const failed = outcomes.filter((o) => !o.verified);
  const resumed = outcomes.filter((o) => o.resumed && !o.live).length;
  const live = outcomes.filter((o) => o.live).length;
  log.info(
    `uploaded ${outcomes.length - failed.length - resumed - live}/${outcomes.length} file(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${formatRate(bytes, ms)}) to ${formatUri(prefix)}${live ? `; ${live} uploaded while the solver ran` : ''}${resumed ? `; ${resumed} already there with the same bytes` : ''}`,
  );
  return { outcomes, bytes, ms, failed };
}
