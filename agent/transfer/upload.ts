import { join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { eachIndex } from '../workers.ts';
import { SMALL_FILE } from '../config.ts';
import { EXIT, FerryError, isAbort, isLocalIoError, localIoError } from '../errors.ts';
import { tidyHeap } from '../heap.ts';
import { formatUri, under, type Location } from '../location.ts';
import { formatBytes, formatRate, type Log } from '../log.ts';
import type { PhaseProgress } from './progress.ts';
import type { ObjectInfo, Store, Uploaded } from '../store/store.ts';
import { GrowingFiles } from './growing-files.ts';
import { unfitKey } from './key-path.ts';
import { fileState, fileStateSync, sameFile, type FileState } from '../rundir/tree.ts';

export interface UploadOutcome {
  rel: string;
  size: number;
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
  /** Files over SMALL_FILE uploaded at once (shared by live and final uploads). */
  filesInFlight: number;
  /** Files of SMALL_FILE or less uploaded at once, in a lane of their own. */
  smallInFlight: number;
  log: Log;
  signal?: AbortSignal;
  /** Objects already under the prefix, by key: a file with the same bytes is not sent again. */
  existing?: Map<string, ObjectInfo>;
  /** Hash each file with SHA-256 for the manifest (ferry run); ferry put writes none. */
  sha256?: boolean;
  /** --memory: a file whose single part is larger cannot be sent. */
  memory: number;
  /** Before each write to the prefix: throws when this run may not write there any more (the lease). */
  fence?: () => Promise<void>;
  /** Every verified upload, as it is verified (the row's journal). */
  onVerified?: (o: UploadOutcome) => void;
}

const MiB = 1024 * 1024;

/**
 * Refuses (64, naming the --memory it needs) a file whose single part cannot fit the memory bound:
 * every byte sent sits in the pool, and a store caps its parts per upload (S3: 10,000), so a large
 * enough file needs parts larger than --memory.
 */
export function checkPartFits(store: Store, path: string, size: number, memory: number): void {
  const part = store.partFor(size);
  if (part <= memory) return;
  const need = Math.ceil(part / MiB);
  throw new FerryError(
    `its ${size} bytes need parts of ${need} MiB (the store limits parts per upload), more than --memory`,
    {
      phase: 'upload',
      target: path,
      exitCode: EXIT.usage,
      hint: `re-run with --memory ${need}MiB or more (each part in flight is held in memory)`,
    },
  );
}

type Base = { rel: string; size: number };

/**
 * An outcome with every field present, in one order: V8 then gives all outcomes one shape (built
 * with spreads, each of 100,000 outcomes had a hidden class of its own, ~300 bytes a file).
 */
function outcome(base: Base, x: Omit<UploadOutcome, 'rel' | 'size'>): UploadOutcome {
  return {
    rel: base.rel,
    size: base.size,
    etag: x.etag,
    sha256: x.sha256,
    verified: x.verified,
    state: x.state,
    resumed: x.resumed ?? false,
    live: x.live ?? false,
    error: x.error,
    exitCode: x.exitCode,
  };
}
/** A file sent, not yet verified. */
type Sent = { base: Base; up: Uploaded; state?: FileState };

/**
 * Upload calls under way at once (sending, waiting for a lane, or waiting for their batched
 * verification). Enough to keep both lanes full and to verify up to 1,000 keys with one listing;
 * bounded because a call parked in a lane's queue costs ~1.5 KB of heap (promises, closures, the
 * async frame; measured): one per file of a 100,000-file tree held ~150 MB.
 */
export const UPLOADS_UNDER_WAY = 1024;

/**
 * Uploads files of one run directory under one prefix, `filesInFlight` at a time, each then
 * verified in the store (size + digest: the ETag on S3, the Content-MD5 on Azure; the store batches
 * the checks). A failure is recorded per file; the others go on. Progress goes to the phase each call names.
 */
export class Uploader {
  private readonly big: LimitFunction;
  private readonly small: LimitFunction;
  bytes = 0;
  resumed = 0;
  private fenced = false;
  /**
   * The latest upload of each file, live or final: the one record of what is in the store (live
   * upload and the final sweep read it; a file uploaded again replaces its entry).
   */
  readonly latest = new Map<string, UploadOutcome>();
  /** Uploads of files still being written, their parts sent ahead of the close; a file's upload finishes its own. */
  readonly growing: GrowingFiles;

  constructor(private readonly d: UploaderDeps) {
    this.big = pLimit(d.filesInFlight);
    this.small = pLimit(d.smallInFlight);
    this.growing = new GrowingFiles(d);
  }

  get prefix(): Location {
    return this.d.prefix;
  }

  get store(): Store {
    return this.d.store;
  }

  /**
   * Uploads and verifies one file; `known` (its state in a scan) picks its lane without another lstat;
   * `live` marks an upload made while the solver runs.
   */
  async upload(rel: string, progress?: PhaseProgress, known?: FileState, live = false): Promise<UploadOutcome> {
    // Small files take their own lane with many in flight (far from the endpoint each costs a round
    // trip); verification waits outside both limits, so it can batch many files at once.
    const size = known?.size ?? (await fileState(join(this.d.dir, rel)))?.size ?? 0;
    const lane = size <= SMALL_FILE ? this.small : this.big;
    const sent = await lane(() => this.send(rel, progress, known));
    const outcome = 'outcome' in sent ? sent.outcome : await this.confirm(sent, progress);
    outcome.live = live;
    this.latest.set(rel, outcome);
    if (outcome.verified) this.d.onVerified?.(outcome);
    return outcome;
  }

  /** The upload of `rel` if it is verified and of exactly this state (the file unchanged since). */
  current(rel: string, state: FileState | undefined): UploadOutcome | undefined {
    const o = this.latest.get(rel);
    return o?.verified && sameFile(o.state, state) ? o : undefined;
  }

  private async send(
    rel: string,
    progress?: PhaseProgress,
    known?: FileState,
  ): Promise<{ outcome: UploadOutcome } | Sent> {
    const { d } = this;
    const dest = under(d.prefix, rel);
    const path = join(d.dir, rel);
    const now = fileStateSync(path); // no trip through the thread pool (rundir/tree.ts)
    const before = known && sameFile(known, now) ? known : now; // share the scan's state object
    const base = { rel, size: before?.size ?? 0 };
    const growing = this.growing.take(rel);
    try {
      const cannot = before ? unfitKey(d.prefix, rel) : `${rel} disappeared before it could be uploaded`;
      if (cannot || !before)
        throw new FerryError(cannot!, { phase: 'upload', target: path, exitCode: EXIT.cantCreate });
      checkPartFits(d.store, path, before.size, d.memory);
      const there = await this.alreadyThere(base, before, path, progress);
      if (there) return { outcome: there };
      await d.fence?.();
      const how = { signal: d.signal, sha256: d.sha256 ?? true, meter: progress };
      const up =
        (await this.growing.finish(rel, growing, { ...how, size: before.size })) ??
        (await d.store.putFile(path, before.size, dest, { ...how, phase: 'upload' }));
      return { base, up, state: sameFile(before, fileStateSync(path)) ? before : undefined };
    } catch (err) {
      return { outcome: this.failure(base, err) };
    } finally {
      void growing?.abort(); // (none after a finish: its upload is committed)
    }
  }

  /** The outcome of a file whose bytes the prefix already held when the run began (a re-run): not sent again. */
  private async alreadyThere(base: Base, before: FileState, path: string, progress?: PhaseProgress) {
    const prior = this.d.existing?.get(under(this.d.prefix, base.rel).key);
    if (!prior || prior.size !== before.size || prior.digest === undefined) return undefined;
    const local = await this.d.store.fingerprint(path, before.size, this.d.signal);
    if (local.digest !== prior.digest) return undefined;
    this.resumed++;
    progress?.addFile();
    this.d.log.detail(`already in the store with the same bytes, not sent again: ${base.rel}`);
    return outcome(base, { etag: prior.etag, sha256: local.sha256, verified: true, state: before, resumed: true });
  }

  private async confirm(s: Sent, progress?: PhaseProgress): Promise<UploadOutcome> {
    const { d } = this;
    try {
      const v = await d.store.verify(s.up, { phase: 'upload', signal: d.signal });
      if (!v.ok) {
        d.log.error(`verify failed for ${formatUri(s.up.loc)}: ${v.reason}`);
        return outcome(s.base, { verified: false, error: v.reason, exitCode: EXIT.cantCreate });
      }
    } catch (err) {
      return this.failure(s.base, err);
    }
    this.bytes += s.up.size;
    tidyHeap();
    progress?.addFile();
    const ahead = s.up.ahead && `; ${s.up.ahead.parts} of its ${s.up.ahead.of} parts sent while it was written`;
    d.log.detail(`uploaded ${s.base.rel} (${s.up.size} bytes), verified${ahead || ''}`);
    return outcome(s.base, { etag: s.up.etag, sha256: s.up.sha256, verified: true, state: s.state });
  }

  private failure(base: Base, err: unknown): UploadOutcome {
    if (isAbort(err)) return outcome(base, { verified: false, error: 'cancelled', exitCode: EXIT.cantCreate });
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
    // The lease lost: said once (by the lease and here), not once per file.
    if (exitCode !== EXIT.busy || !this.fenced) this.d.log.error(message);
    if (exitCode === EXIT.busy) this.fenced = true;
    return outcome(base, { verified: false, error: message, exitCode });
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
  o: {
    reuse?: (rel: string) => Promise<UploadOutcome | undefined>;
    progress?: PhaseProgress;
    /** Sizes from the scan the files come from. */
    sizes?: Map<string, FileState>;
  } = {},
): Promise<UploadSummary> {
  const started = Date.now();
  const bytes0 = up.bytes;
  const upload = async (rel: string) => (await o.reuse?.(rel)) ?? up.upload(rel, o.progress, o.sizes?.get(rel));
  // At most UPLOADS_UNDER_WAY calls at once, each taking the next file: not one parked call per file.
  const outcomes = new Array<UploadOutcome>(files.length);
  await eachIndex(files.length, UPLOADS_UNDER_WAY, async (i) => {
    outcomes[i] = await upload(files[i]);
  });
  const ms = Date.now() - started;
  const bytes = up.bytes - bytes0;
  const failed = outcomes.filter((x) => !x.verified);
  const resumed = outcomes.filter((x) => x.resumed && !x.live).length;
  const live = outcomes.filter((x) => x.live).length;
  const sent = outcomes.length - failed.length - resumed - live;
  const notes =
    (live ? `; ${live} uploaded while the solver ran` : '') +
    (resumed ? `; ${resumed} already there with the same bytes` : '');
  if (outcomes.length === 0) log.info(`nothing left to upload to ${formatUri(up.prefix)}`);
  else
    log.info(
      `uploaded ${sent}/${outcomes.length} file(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s ` +
        `(${formatRate(bytes, ms)}) to ${formatUri(up.prefix)}${notes}`,
    );
  return { outcomes, bytes, ms, failed };
}
