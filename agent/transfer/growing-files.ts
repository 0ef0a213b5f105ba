import { join } from 'node:path';
import { describeError, isAbort } from '../errors.ts';
import { under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import type { FileState } from '../rundir/tree.ts';
import { canGrow, type FinishOptions, type Growing, type Store, type Uploaded } from '../store/store.ts';
import { unfitKey } from './key-path.ts';

export interface GrowingDeps {
  store: Store;
  dir: string;
  prefix: Location;
  /** Files grown at once (the uploader's big lane: as many as it sends at once). */
  filesInFlight: number;
  log: Log;
  signal?: AbortSignal;
  /** Before each file's parts go out: throws when this run may not write to the prefix any more. */
  fence?: () => Promise<void>;
}

/** How long the end of a run waits for its unfinished growing uploads to be aborted. */
export const DROP_MS = 5000;

/**
 * The growing uploads of a run's files still being written (agent/store/growing.ts), by path: live
 * upload grows them at each scan, so that when one closes little is left to send; the file's upload
 * (Uploader.send) then takes its growing upload and finishes it. What no upload took is dropped.
 */
export class GrowingFiles {
  private readonly uploads = new Map<string, Growing>();
  /** Files larger than this are grown (Infinity: the store cannot); a file of one part goes in one request. */
  readonly above: number;

  constructor(private readonly d: GrowingDeps) {
    this.above = canGrow(d.store) ? 2 * d.store.growingPart : Infinity;
  }

  /** Sends the parts `rel` now holds whole (its growing upload begun if need be). Not awaited; a failure drops it. */
  grow(rel: string, state: FileState): void {
    const { d } = this;
    let g = this.uploads.get(rel);
    if (!g) {
      if (!canGrow(d.store) || state.size <= this.above || this.uploads.size >= d.filesInFlight) return;
      if (unfitKey(d.prefix, rel)) return;
      g = d.store.growing(join(d.dir, rel), under(d.prefix, rel), { phase: 'upload', signal: d.signal });
      this.uploads.set(rel, g);
    }
    const growing = g;
    void (async () => {
      await d.fence?.();
      await growing.grow(state.size, d.signal);
    })().catch((err) => {
      if (this.uploads.get(rel) !== growing) return;
      this.uploads.delete(rel);
      void growing.abort();
      if (!isAbort(err)) d.log.detail(`${rel}: its parts go up at its close, not ahead (${describeError(err)})`);
    });
  }

  /** The growing upload of `rel`, now the caller's to finish or abort (undefined: none). */
  take(rel: string): Growing | undefined {
    const g = this.uploads.get(rel);
    this.uploads.delete(rel);
    return g;
  }

  /**
   * `rel`'s growing upload (taken) finished as the file now is, or undefined: there was none, the file
   * cannot go up this way, or its commit failed (then it goes up whole: a server may refuse what
   * another takes).
   */
  async finish(rel: string, g: Growing | undefined, f: FinishOptions): Promise<Uploaded | undefined> {
    return g?.finish(f).catch((err: unknown) => {
      if (isAbort(err)) throw err;
      this.d.log.detail(`${rel}: the parts sent while it was written were not committed (${describeError(err)})`);
      return undefined;
    });
  }

  /**
   * Aborts the growing uploads of files that are gone (`present` says), or of all: the run's uploads are
   * over. Waits DROP_MS at most (a stalled store): an upload left unfinished is invisible, and the
   * next attempt's preparation aborts it (agent/prefix/prepare.ts).
   */
  async drop(present: (rel: string) => boolean = () => false): Promise<void> {
    const gone = [...this.uploads].filter(([rel]) => !present(rel));
    for (const [rel] of gone) this.uploads.delete(rel);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, DROP_MS)));
    await Promise.race([Promise.all(gone.map(([, g]) => g.abort())), late]);
    clearTimeout(timer);
  }
}
