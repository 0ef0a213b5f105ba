import type { Log } from '../log.ts';
import type { PhaseProgress } from './progress.ts';
import type { LiveUpload } from './live-upload.ts';
import { sameFile, scanTree, selectOutputs, type Scan, type Snapshot } from '../rundir/tree.ts';
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
  /**
   * The files under the run directory a process outside the run holds open for writing, each with that
   * process: not called settled on the first look after the main sweep, whatever its mtime says.
   */
  holders?: () => Map<string, string>;
  /** Called with the number of files and bytes of the main sweep before it starts: its progress counters. */
  onPlan?: (files: number, bytes: number) => PhaseProgress | undefined;
}

export interface SweepResult {
  /** The latest upload of every output. */
  outcomes: Map<string, UploadOutcome>;
  /** Files uploaded while the solver ran and deleted by it since: their objects may go too. */
  deletedAfterLive: Array<{ rel: string; etag: string }>;
  /** The last scan: what the run directory held when the sweep ended. */
  last: Scan;
  /** Files that were still changing after MAX_ROUNDS rounds: kept, the run is incomplete. */
  unsettled: string[];
}

/** The main sweep: what live upload sent and is unchanged is kept, every other output goes up now. */
async function mainSweep(
  o: SweepOptions,
  first: Scan,
  outcomes: Map<string, UploadOutcome>,
): Promise<PhaseProgress | undefined> {
  const live = o.live;
  const todo: string[] = [];
  for (const f of selectOutputs(o.baseline, first.files, o.uploadAll)) {
    const done = o.uploader.current(f.rel, first.files.get(f.rel));
    if (done) outcomes.set(f.rel, done);
    else todo.push(f.rel);
  }
  // The biggest first (a lane of their own, beside the small files): 20,000 small logs sorted before
  // four post files left the post files to go up last, alone (the sort is stable: ties stay in order).
  todo.sort((a, b) => (first.files.get(b)?.size ?? 0) - (first.files.get(a)?.size ?? 0));
  const current = outcomes.size ? ` (${outcomes.size} more already uploaded and unchanged)` : '';
  o.log.info(`uploading ${todo.length} output file(s)${current}`);
  const bytes = todo.reduce((n, rel) => n + (first.files.get(rel)?.size ?? 0), 0);
  const progress = o.onPlan?.(todo.length, bytes);
  const reuse = live ? (rel: string) => live.reuse(rel, first.files.get(rel)) : undefined;
  const sent = await uploadTree(o.uploader, todo, o.log, { reuse, progress, sizes: first.files });
  for (const out of sent.outcomes) outcomes.set(out.rel, out);
  await live?.drain();
  return progress;
}

/** How long the sweep waits before it scans again once a file changed after its upload. */
const RESCAN_QUIET_MS = 1000;

/**
 * Uploads every output once the solver has ended: what live upload already sent (and that has not
 * changed since) is reused, the rest goes now. Then the directory is scanned again and anything new
 * or changed since its upload goes up, until nothing changes or MAX_ROUNDS rounds have passed.
 */
export async function finalSweep(o: SweepOptions): Promise<SweepResult> {
  const first = await scanTree(o.dir, o.skip, o.live?.lastSeen);
  const outcomes = new Map<string, UploadOutcome>();
  const progress = await mainSweep(o, first, outcomes);
  // Once the live uploads under way are done (mainSweep drains them): one that finished after the
  // solver's exit, of a file the solver deleted before it, was left in a complete prefix.
  const deletedAfterLive: SweepResult['deletedAfterLive'] = [];
  for (const [rel, d] of o.uploader.latest) {
    if (d.live && !first.files.has(rel) && d.verified && d.etag) deletedAfterLive.push({ rel, etag: d.etag });
  }
  o.live?.forget(); // what it saw: a tree of 100,000 files need not be held twice
  let last = first;
  let waited = false;
  for (let round = 1; ;) {
    // A file changed after its upload, or one is held open from outside the run: something may still
    // write it. Give that writer time to show itself before a scan calls the tree settled (a `tee`
    // writes only when a line comes).
    if (waited) await new Promise((r) => setTimeout(r, RESCAN_QUIET_MS));
    last = await scanTree(o.dir, o.skip, last.files);
    const outputs = selectOutputs(o.baseline, last.files, o.uploadAll).map((f) => f.rel);
    const changed = outputs.filter((rel) => {
      const prev = outcomes.get(rel);
      return !prev || (prev.verified && !sameFile(prev.state, last.files.get(rel)));
    });
    if (changed.length === 0) {
      const held = waited ? [] : heldOutputs(o, outputs);
      if (held.length === 0) return { outcomes, deletedAfterLive, last, unsettled: [] };
      o.log.info(`${held.join(', ')}: open for writing outside the run, looking again in ${RESCAN_QUIET_MS} ms`);
      waited = true;
      continue;
    }
    const few = `${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', …' : ''}`;
    if (round > MAX_ROUNDS) {
      const held = heldOutputs(o, changed);
      o.log.error(
        `${changed.length} file(s) still changed after ${MAX_ROUNDS} rounds of uploads: ` +
          `kept locally, the run is incomplete (${few})\n  hint: every process of the run has ended, so ` +
          'something outside it writes there: a `tee` or another program logging into the run directory, ' +
          'another job in the same directory; write such files elsewhere, or leave them out with --exclude ' +
          `(a re-run will see the same)${held.length ? `; held open now: ${held.slice(0, 5).join(', ')}` : ''}`,
      );
      return { outcomes, deletedAfterLive, last, unsettled: changed };
    }
    o.log.warn(
      `${changed.length} file(s) appeared or changed after their upload: ` +
        `uploading them again (round ${round} of ${MAX_ROUNDS})`,
    );
    const again = await uploadTree(o.uploader, changed, o.log, { progress, sizes: last.files });
    for (const out of again.outcomes) outcomes.set(out.rel, out);
    round++;
    waited = true;
  }
}

/** Which of `rels` a process outside the run holds open for writing, each with that process. */
function heldOutputs(o: SweepOptions, rels: string[]): string[] {
  const held = o.holders?.();
  if (!held?.size) return [];
  return rels.filter((rel) => held.has(rel)).map((rel) => `${rel} (held by ${held.get(rel)})`);
}
