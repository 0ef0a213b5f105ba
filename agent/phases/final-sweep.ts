import type { Log } from '../log.ts';
import type { PhaseProgress } from '../progress.ts';
import type { LiveUpload } from './live-upload.ts';
import { sameFile, scanTree, selectOutputs, type Scan, type Snapshot } from './outputs.ts';
import { uploadTree, type UploadOutcome, type Uploader } from './upload.ts';

/** Rounds of "scan again, upload what changed" after the main sweep before a file counts as unsettled. */
export const MAX_ROUNDS = 3;

export interface SweepOptions {
  dir: string;
  /** The run directory before the solver started: files unchanged since are inputs, not outputs. */
  baseline: Snapshot;
  uploadAll: boolean;
  /** Files that are never outputs (ferry's own, the credentials, ferry itself…). */
  skip: (rel: string) => boolean;
  uploader: Uploader;
  live?: LiveUpload;
  log: Log;
  /** Called with the number of files and bytes of the main sweep before it starts: its progress counters. */
  onPlan?: (files: number, bytes: number) => PhaseProgress | undefined;
}

export interface SweepResult {
  /** The latest upload of every output. */
  outcomes: Map<string, UploadOutcome>;
  /** The first scan after the solver (and every process it started) ended. */
  first: Scan;
  /** The last scan: what the run directory held when the sweep ended. */
  last: Scan;
  /** Files that were still changing after MAX_ROUNDS rounds: kept, the run is incomplete. */
  unsettled: string[];
}

/**
 * Uploads every output once the solver has ended: what live upload already sent (and that has not
 * changed since) is reused, the rest goes now. Then the directory is scanned again and anything new
 * or changed since its upload goes up, until nothing changes or MAX_ROUNDS rounds have passed.
 */
export async function finalSweep(o: SweepOptions): Promise<SweepResult> {
  const first = await scanTree(o.dir, o.skip);
  const outputs = selectOutputs(o.baseline, first.files, o.uploadAll);
  const live = o.live;
  const outcomes = new Map<string, UploadOutcome>();
  const todo: string[] = [];
  for (const f of outputs) {
    const done = live?.done.get(f.rel);
    if (done && live?.isCurrent(f.rel, first.files.get(f.rel))) outcomes.set(f.rel, { ...done, live: true });
    else todo.push(f.rel);
  }
  const current = outcomes.size;
  o.log.info(
    `uploading ${todo.length} output file(s)${current ? ` (${current} more already uploaded and unchanged)` : ''}`,
  );
  const progress = o.onPlan?.(
    todo.length,
    todo.reduce((n, rel) => n + (first.files.get(rel)?.size ?? 0), 0),
  );
  const reuse = live ? (rel: string) => live.reuse(rel, first.files.get(rel)) : undefined;
  for (const out of (await uploadTree(o.uploader, todo, o.log, { reuse, progress })).outcomes)
    outcomes.set(out.rel, out);
  await live?.drain();

  let last = first;
  for (let round = 1; ; round++) {
    last = await scanTree(o.dir, o.skip);
    const changed = selectOutputs(o.baseline, last.files, o.uploadAll)
      .map((f) => f.rel)
      .filter((rel) => {
        const prev = outcomes.get(rel);
        return !prev || (prev.verified && !sameFile(prev.state, last.files.get(rel)));
      });
    if (changed.length === 0) return { outcomes, first, last, unsettled: [] };
    if (round > MAX_ROUNDS) {
      o.log.error(
        `${changed.length} file(s) still changed after ${MAX_ROUNDS} rounds of uploads: kept locally, ` +
          `the run is incomplete (${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', …' : ''})`,
      );
      return { outcomes, first, last, unsettled: changed };
    }
    o.log.warn(
      `${changed.length} file(s) appeared or changed after their upload: ` +
        `uploading them again (round ${round} of ${MAX_ROUNDS})`,
    );
    for (const out of (await uploadTree(o.uploader, changed, o.log, { progress })).outcomes) outcomes.set(out.rel, out);
  }
}
