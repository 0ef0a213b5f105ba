import { describeError } from '../errors.ts';
import { SMALL_FILE } from '../config.ts';
import type { Log } from '../log.ts';
import type { PhaseProgress } from './progress.ts';
import { sameContent, sameFile, scanTree, type FileState, type Snapshot } from '../rundir/tree.ts';
import { TreeWatch } from '../rundir/watch.ts';
import { UPLOADS_UNDER_WAY, type UploadOutcome, type Uploader } from './upload.ts';

export interface LiveOptions {
  dir: string;
  /** The run directory before the solver started: files unchanged since are inputs, not outputs. */
  baseline: Snapshot;
  uploadAll: boolean;
  skip: (rel: string) => boolean;
  /**
   * A file is uploaded once it has not changed for this long; when `writing` can see every writer of
   * the run, a file no process holds open for writing needs only to be unchanged between two scans
   * (and QUIET_MS old) the first time: the quiet period then applies to files changed after their upload.
   */
  settleMs: number;
  log: Log;
  /** The progress counters live uploads report to. */
  progress?: PhaseProgress;
  /**
   * Files some process of the run holds open for writing now: never settled, whatever their age.
   * `all` is false when some writer may be out of sight (another user's process, a rank on another node).
   */
  writing?: () => { paths: Set<string>; all: boolean };
  /** Files that go up ahead of the others once settled (the solver's checkpoints), always after `settleMs`. */
  first?: (rel: string) => boolean;
}

/**
 * How long a file that no process holds open must be untouched (mtime and ctime) to go up.
 * With 1 s, a row's last post file, closed 1 s before the solver exited, was first sent at the exit
 * (bench row: what was left after the exit took 1.66 s to go up, 1.39 s at 250 ms). No process of
 * the run holding it is what says it is finished; the quiet time only spares an upload of a file
 * written in a few open-write-close rounds (changed after its upload, it waits out --settle). With
 * new files heard of as they are created (rundir/watch.ts), 50 ms took ~0.2 s off the row's time
 * from the solver's exit to ferry's (3 single-row runs each, 1.21 → 0.95–1.14 s).
 */
export const QUIET_MS = 50;
/** Whether the file's ctime has sub-second precision (not FAT, not ext4 with small inodes, not some NFS). */
const fineCtime = (s: FileState) => s.ctimeMs !== undefined && s.ctimeMs % 1000 !== 0;
/** How often the tree is scanned when writers are seen (at most; see start()). */
const SCAN_MS = 500;
/** A scan for new files turning quiet comes this long after they do (mtime and ctime have a clock's grain). */
const QUIET_SLACK_MS = 20;
/** A file created brings the next scan this close (within the bound of ten times a scan's time). */
const NEW_FILE_MS = 15;
/** Files created one after another wait for their scan at most this long after the first of them. */
const BURST_MS = 250;

/**
 * The order settled files are handed to the uploader: checkpoints first, then the biggest. Big files
 * go in a lane of their own; handed over in scan order, a post file found after UPLOADS_UNDER_WAY
 * small logs was turned away and left for the final sweep (measured: 20,000 logs over a 13 s run,
 * none of the 4 × 100 MiB post files went up live).
 */
export function sendOrder(ready: Array<[string, FileState]>, first: (rel: string) => boolean) {
  return [...ready].sort(([a, x], [b, y]) => Number(first(b)) - Number(first(a)) || y.size - x.size);
}

/** The folders that hold the files of `files` (and those above them), relative. */
function foldersOf(files: Snapshot): string[] {
  const out = new Set<string>();
  for (const rel of files.keys()) {
    for (let i = rel.lastIndexOf('/'); i > 0 && !out.has(rel.slice(0, i)); i = rel.lastIndexOf('/', i - 1))
      out.add(rel.slice(0, i));
  }
  return [...out];
}

/**
 * When the live upload's next scan comes: `every` ms after the last, sooner for a file turning quiet
 * (`ended`'s quietIn) or files created (`created`), never sooner than ten times the last scan took
 * after its end.
 */
class ScanTimes {
  private timer: NodeJS.Timeout | undefined;
  private due = Infinity;
  private early = false;
  private busy = false;
  private poked = false;
  private lastMs = 0;
  private lastEnd = Date.now();
  private burst: { first: number; timer: NodeJS.Timeout } | undefined;
  private stopped = false;

  constructor(
    private readonly every: number,
    private readonly scan: () => void,
  ) {}

  /** The next scan at `at`, if no other comes sooner. */
  arm(at: number, byNew = false): void {
    if (this.stopped || at >= this.due) return;
    clearTimeout(this.timer);
    this.due = at;
    this.early = byNew;
    this.timer = setTimeout(this.scan, Math.max(0, at - Date.now()));
  }

  private soon(ms = NEW_FILE_MS): void {
    this.arm(Math.max(Date.now() + ms, this.lastEnd + 10 * this.lastMs), true);
  }

  /**
   * A file created. Files created one after another (a solver writing its logs) are one burst: its
   * scan comes once they have been quiet for QUIET_MS, so that it finds them all ready, or BURST_MS
   * after the first of them.
   */
  created(): void {
    const now = Date.now();
    const first = this.burst?.first ?? now;
    clearTimeout(this.burst?.timer);
    const at = Math.min(now + QUIET_MS + QUIET_SLACK_MS, first + BURST_MS);
    const timer = setTimeout(() => {
      this.burst = undefined;
      // (a scan under way may have read that folder already: one more comes after it)
      if (this.busy) this.poked = true;
      else this.soon(0);
    }, at - now);
    timer.unref();
    this.burst = { first, timer };
  }

  /** A scan begins; whether a created file brought it forward. */
  began(): boolean {
    this.due = Infinity;
    this.busy = true;
    return this.early;
  }

  /** A scan that began at `t0` ended; returns how long until the next one. */
  ended(t0: number, quietIn: number | undefined, poke: boolean): number {
    this.busy = false;
    this.lastEnd = Date.now();
    this.lastMs = this.lastEnd - t0;
    // A new file a scan found too fresh to send is looked at again as it turns QUIET_MS old, not a
    // whole period later (a row's 500 logs, written 0.5 s before the exit, waited 0.5 s on average).
    const wait = quietIn === undefined ? this.every : Math.min(this.every, quietIn + QUIET_SLACK_MS);
    const next = Math.max(wait, 10 * this.lastMs);
    this.arm(this.lastEnd + next);
    if (poke || this.poked) this.soon();
    this.poked = false;
    return next;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.burst?.timer);
  }
}

/**
 * While the solver runs, uploads output files that have settled (unchanged for `settleMs`). A file
 * that changes after its upload is uploaded again; the final sweep then only moves what is new or
 * changed, so the time from solver exit to ferry exit is little more than the last files written.
 */
export class LiveUpload {
  private times: ScanTimes | undefined;
  /** The run directory's folders: created entries in them bring the next scan forward. */
  private watch: TreeWatch | undefined;
  /** The folders the last scan found. */
  private dirs: string[] = [];
  private scanning: Promise<void> = Promise.resolve();
  private readonly seen = new Map<string, FileState>();
  private readonly inFlight = new Map<string, Promise<UploadOutcome>>();
  /** Files whose upload failed, as they were then: not tried again until they change (the final sweep tries). */
  private readonly failed = new Map<string, FileState>();
  /** Files this live upload sent (their outcomes are the uploader's). */
  private sent = 0;
  /** Scans made so far. */
  scans = 0;
  /** Scans brought forward by a file created (or a folder found) in the run directory. */
  early = 0;
  /** How long after the last scan the next one comes (ms). */
  nextScanMs = 0;
  private stopped = false;
  /** The last file it uploaded and verified, and when (the heartbeat says it). */
  last: { rel: string; at: number } | undefined;

  constructor(
    private readonly up: Uploader,
    private readonly o: LiveOptions,
  ) {}

  /** The progress counters live uploads report to. */
  get progress(): PhaseProgress | undefined {
    return this.o.progress;
  }

  /**
   * Scans every settle/8 (at least 250 ms, at most SCAN_MS when writers are seen, else 5 s), and never
   * more often than every ten times the last scan took: a tree of 100,000 files takes a while to
   * scan, and the cores are the solver's (scans take at most a tenth of one). When the run's writers
   * can be seen, files created in a folder of the tree bring the next scan forward (within that
   * bound): to QUIET_MS after the last of a burst of them (so that it finds them all quiet), at most
   * BURST_MS after its first. A row's 500 logs, written 0.5 s before the solver's exit, were found
   * 0.25 s after they were written on average, and the last went up 1.2 s after the exit.
   */
  start(): void {
    const most = this.o.writing ? SCAN_MS : 5000;
    const every = Math.max(250, Math.min(most, Math.floor(this.o.settleMs / 8)));
    const times = (this.times = new ScanTimes(every, () => this.scanOnce(times)));
    // (only where a new file may go up before --settle: when the run's writers can be seen)
    if (this.o.writing) {
      this.watch = new TreeWatch(this.o.dir, this.o.skip, () => times.created());
      this.watch.update(foldersOf(this.o.baseline));
    }
    this.nextScanMs = every;
    times.arm(Date.now() + every);
  }

  private scanOnce(times: ScanTimes): void {
    if (times.began()) this.early++;
    const t0 = Date.now();
    this.scanning = this.tick()
      .catch((err) => {
        this.o.log.warn(`live upload scan failed: ${describeError(err)}`);
        return undefined;
      })
      .then((quietIn) => {
        if (this.stopped) return;
        // What was created in a folder before its watch began: the next scan finds it soon.
        const added = this.watch ? this.watch.update(this.dirs) > 0 : false;
        this.nextScanMs = times.ended(t0, quietIn, added);
      });
  }

  /** Stops watching (uploads under way go on: the final sweep overlaps them). */
  async stopWatching(): Promise<void> {
    this.stopped = true;
    this.times?.stop();
    this.watch?.close();
    await this.scanning;
  }

  /** How many files it uploaded (verified or not). */
  get uploaded(): number {
    return this.sent;
  }

  /** Lets go of what it saw (after the final sweep took it over). */
  forget(): void {
    this.seen.clear();
    this.failed.clear();
  }

  /** The files as the last scan saw them (the final sweep's scan shares their states). */
  get lastSeen(): Snapshot {
    return this.seen;
  }

  /** Waits for every upload under way. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight.values());
  }

  /** The live upload of `rel` if it (once finished) is of exactly this state; else undefined. */
  async reuse(rel: string, state: FileState | undefined): Promise<UploadOutcome | undefined> {
    await this.inFlight.get(rel);
    return this.up.current(rel, state);
  }

  /** One scan; returns in how many ms the freshest new file it could not send yet turns quiet (if one). */
  private async tick(): Promise<number | undefined> {
    if (this.stopped) return undefined;
    this.scans++;
    const now = Date.now();
    const { files, dirs } = await scanTree(this.o.dir, this.o.skip, this.seen);
    this.dirs = dirs;
    const first = this.o.first ?? (() => false);
    const quiet: Array<[string, FileState]> = [];
    const settled: Array<[string, FileState]> = [];
    const big: Array<[string, FileState]> = [];
    let quietIn: number | undefined;
    for (const [rel, state] of files) {
      const base = this.o.baseline.get(rel);
      if (!this.o.uploadAll && sameContent(base, state)) continue;
      // Not being sent, not sent (or failed) as it is now.
      const prev = this.seen.get(rel);
      this.seen.set(rel, state);
      if (this.inFlight.has(rel) || this.up.current(rel, state)) continue;
      if (sameFile(this.failed.get(rel), state)) continue;
      if (state.size > this.up.growing.above) big.push([rel, state]);
      const unchanged = sameFile(prev, state);
      if (unchanged && now - state.mtimeMs >= this.o.settleMs) settled.push([rel, state]);
      // Never sent yet: no writer and untouched for QUIET_MS is enough (a file changed after its
      // upload waits out --settle), at the first scan that sees it so: its ctime, which no one can set
      // back, says when anything last touched it. Without one, or on a filesystem of whole-second
      // times (a file then looks up to a second older than it is), two scans must see it unchanged.
      // Not for a checkpoint: journaled, a later attempt resumes from it, so a writer that closes it
      // and opens it again within a second must not get it sent half-written.
      else if ((unchanged || fineCtime(state)) && !this.up.latest.has(rel) && !first(rel)) {
        const touched = Math.max(state.mtimeMs, state.ctimeMs ?? state.mtimeMs);
        const left = touched + Math.min(QUIET_MS, this.o.settleMs) - now;
        if (left <= 0) quiet.push([rel, state]);
        // (a file seen for the first time, or untouched since: one written all the time must not
        // double the scans for hours; one seen again by an early scan must not wait a whole period)
        else if (fineCtime(state) && (prev === undefined || unchanged)) quietIn = Math.min(quietIn ?? left, left);
      }
    }
    // ... and no process of the run holds it open for writing (a restart file written in pieces).
    const writing = settled.length + quiet.length > 0 ? this.o.writing?.() : undefined;
    const ready = [...settled, ...(writing?.all ? quiet : [])].filter(([rel]) => !writing?.paths.has(rel));
    for (const [rel, state] of sendOrder(ready, first)) this.send(rel, state);
    // A big file not sent now (still written, or not yet settled) sends the parts it holds whole: at
    // its close, little is left (bench row: a 100 MiB post file closed 1 s before the solver exited).
    const sending = new Set(ready.map(([rel]) => rel));
    for (const [rel, state] of big) if (!sending.has(rel)) this.up.growing.grow(rel, state);
    void this.up.growing.drop((rel) => files.has(rel));
    return quietIn;
  }

  private send(rel: string, state: FileState): void {
    // The next scan (or the final sweep) takes it. Not for a big file: those are few, and in a lane of
    // their own; held back behind 1,024 small logs, none of a row's post files went up live.
    if (this.inFlight.size >= UPLOADS_UNDER_WAY && state.size <= SMALL_FILE) return;
    this.sent++;
    const p = this.up.upload(rel, this.o.progress, state, true).then((outcome) => {
      // (the uploader logs the verified upload: once)
      if (outcome.verified) this.last = { rel, at: Date.now() };
      else this.failed.set(rel, state);
      this.inFlight.delete(rel);
      return outcome;
    });
    this.inFlight.set(rel, p);
  }

  /** Uploads `rel` now, ahead of the scans (a checkpoint the run asked for); resolves with its outcome. */
  async now(rel: string): Promise<UploadOutcome> {
    await this.inFlight.get(rel);
    const o = await this.up.upload(rel, this.o.progress, undefined, true);
    this.sent++;
    if (o.verified) this.last = { rel, at: Date.now() };
    return o;
  }
}
