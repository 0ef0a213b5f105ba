import { join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { EXIT, FerryError, isAbort, isLocalIoError, localIoError } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import type { PhaseProgress } from '../progress.ts';
import type { ObjectInfo, Store, Uploaded } from '../store/store.ts';
import { fileState, sameFile, type FileState } from './outputs.ts';

export interface UploadOutcome {
  rel: string;
  size: number;
  key: string;
  /** The version the store holds (bare, as every store hands ETags out): a later removal names it. */
  etag?: string;
  sha256?: string;
  verified: boolean;
  /** The local file when it was read (size, mtime, ctime, inode), if it did not change during the upload. */
  state?: FileState;
  /** True when the object was already in the store with these bytes (a re-run) and was not sent again. */
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
  store: Store;
  dir: string;
  prefix: Location;
  /** Files uploaded at once (shared by live and final uploads). */
  filesInFlight: number;
  log: Log;
  signal?: AbortSignal;
  /** Objects already under the prefix, by key: a file with the same bytes is not sent again. */
  existing?: Map<string, ObjectInfo>;
  /** Hash each file with SHA-256 for the manifest (ferry run); ferry put writes none. */
  sha256?: boolean;
}

type Base = { rel: string; size: number; key: string };
/** A file sent, not yet verified. */
type Sent = { base: Base; up: Uploaded; state?: FileState };

/**
 * Uploads files of one run directory under one prefix, `filesInFlight` at a time, each then
 * verified in the store (size + digest: the ETag on S3, the Content-MD5 on Azure; the store batches
 * the checks). A failure is recorded per file; the others go on. Progress goes to the phase each call names.
 */
export class Uploader {
  private readonly limit: LimitFunction;
  bytes = 0;
  resumed = 0;

  constructor(private readonly d: UploaderDeps) {
    this.limit = pLimit(d.filesInFlight);
  }

  get prefix(): Location {
    return this.d.prefix;
  }

  upload(rel: string, progress?: PhaseProgress): Promise<UploadOutcome> {
    // Verification waits outside the files-in-flight limit, so it can batch many files at once.
    return this.limit(() => this.send(rel, progress)).then((s) =>
      'outcome' in s ? s.outcome : this.confirm(s, progress),
    );
  }

  private async send(rel: string, progress?: PhaseProgress): Promise<{ outcome: UploadOutcome } | Sent> {
    const { d } = this;
    const dest = under(d.prefix, rel);
    const path = join(d.dir, rel);
    const before = await fileState(path);
    const base = { rel, size: before?.size ?? 0, key: dest.key };
    try {
      if (!before)
        throw new FerryError(`${rel} disappeared before it could be uploaded`, {
          phase: 'upload',
          target: path,
          exitCode: EXIT.cantCreate,
        });
      const prior = d.existing?.get(dest.key);
      if (prior && prior.size === before.size) {
        const local = await d.store.fingerprint(path, before.size, d.signal);
        if (prior.digest !== undefined && local.digest === prior.digest) {
          this.resumed++;
          progress?.addFile();
          d.log.detail(`already in the store with the same bytes, not sent again: ${rel}`);
          return {
            outcome: { ...base, etag: prior.etag, sha256: local.sha256, verified: true, state: before, resumed: true },
          };
        }
      }
      const onBytes = (n: number) => progress?.addBytes(n);
      const up = await d.store.putFile(path, before.size, dest, {
        phase: 'upload',
        signal: d.signal,
        sha256: d.sha256 ?? true,
        onBytes,
      });
      return { base, up, state: sameFile(before, await fileState(path)) ? before : undefined };
    } catch (err) {
      return { outcome: this.failure(base, err) };
    }
  }

  private async confirm(s: Sent, progress?: PhaseProgress): Promise<UploadOutcome> {
    const { d } = this;
    try {
      const v = await d.store.verify(s.up, { phase: 'upload', signal: d.signal });
      if (!v.ok) {
        d.log.error(`verify failed for ${formatUri(s.up.loc)}: ${v.reason}`);
        return { ...s.base, verified: false, error: v.reason, exitCode: EXIT.cantCreate };
      }
    } catch (err) {
      return this.failure(s.base, err);
    }
    this.bytes += s.up.size;
    progress?.addFile();
    d.log.detail(`uploaded ${s.base.rel} (${s.up.size} bytes), verified`);
    return { ...s.base, etag: s.up.etag, sha256: s.up.sha256, verified: true, state: s.state };
  }

  private failure(base: Base, err: unknown): UploadOutcome {
    if (isAbort(err)) return { ...base, verified: false, error: 'cancelled', exitCode: EXIT.cantCreate };
    const e =
      err instanceof FerryError
        ? err
        : isLocalIoError(err)
          ? localIoError(err, 'upload', join(this.d.dir, base.rel))
          : undefined;
    if (!e) throw err; // not a failure of this file: a bug
    // Once uploads are under way, a lost endpoint or an unreadable file is an upload that failed (73).
    const exitCode = e.exitCode === EXIT.unavailable || e.exitCode === EXIT.ioErr ? EXIT.cantCreate : e.exitCode;
    const message = `cannot upload ${base.rel}: ${e.render()}`;
    this.d.log.error(message);
    return { ...base, verified: false, error: message, exitCode };
  }

  /**
   * Removes an object this run uploaded whose local file is gone (a solver's temporary file), only if
   * it still has the ETag of that upload: an object someone else wrote since is never deleted.
   */
  remove(rel: string, etag: string): Promise<boolean> {
    return this.d.store.remove(under(this.d.prefix, rel), { phase: 'upload', signal: this.d.signal, ifEtag: etag });
  }
}

/**
 * Uploads `files` and logs one summary line. `reuse` may supply an upload already made for a file
 * (a live upload of the same bytes); it is awaited per file, so uploads still under way overlap
 * the ones this call starts.
 */
export async function uploadTree(
  up: Uploader,
  files: string[],
  log: Log,
  o: { reuse?: (rel: string) => Promise<UploadOutcome | undefined>; progress?: PhaseProgress } = {},
): Promise<UploadSummary> {
  const started = Date.now();
  const bytes0 = up.bytes;
  const outcomes = await Promise.all(files.map(async (rel) => (await o.reuse?.(rel)) ?? up.upload(rel, o.progress)));
  const ms = Date.now() - started;
  const bytes = up.bytes - bytes0;
  const failed = outcomes.filter((x) => !x.verified);
  const resumed = outcomes.filter((x) => x.resumed && !x.live).length;
  const live = outcomes.filter((x) => x.live).length;
  const sent = outcomes.length - failed.length - resumed - live;
  const notes =
    (live ? `; ${live} uploaded while the solver ran` : '') +
    (resumed ? `; ${resumed} already there with the same bytes` : '');
  log.info(
    `uploaded ${sent}/${outcomes.length} file(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s ` +
      `(${formatRate(bytes, ms)}) to ${formatUri(up.prefix)}${notes}`,
  );
  return { outcomes, bytes, ms, failed };
}
