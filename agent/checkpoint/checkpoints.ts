// A run's checkpoint files: which files of the run directory they are, which is the newest, asking
// the solver for one (its trigger file) and waiting until the one it writes is finished.
import { lstat, open, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, FerryError, errnoCode, localIoError } from '../errors.ts';
import { openForWriting } from '../solver/writers.ts';
import type { Glob } from '../glob.ts';

export interface CheckpointFile {
  /** Relative to the run directory, '/'-separated. */
  path: string;
  size: number;
  mtimeMs: number;
}

/** What checkpointsIn needs of a file (ferry's tree scan gives more). */
export interface FileStat {
  size: number;
  mtimeMs: number;
}

/** The last run of digits in the file's name without its extension (restart0004.rst → 4, step_12.h5 → 12). */
export function checkpointNumber(path: string): number | undefined {
  const m = /(\d+)\D*$/.exec(basename(path).replace(/(?<=.)\.[^.]*$/, ''));
  return m ? Number(m[1]) : undefined;
}

/**
 * Newest first: the highest number in the name (a file without one is older than any with one),
 * then the latest mtime, then the path (so the order is total).
 */
export function newestFirst(a: CheckpointFile, b: CheckpointFile): number {
  const na = checkpointNumber(a.path) ?? -1;
  const nb = checkpointNumber(b.path) ?? -1;
  if (na !== nb) return nb - na;
  if (a.mtimeMs !== b.mtimeMs) return b.mtimeMs - a.mtimeMs;
  return a.path < b.path ? 1 : a.path > b.path ? -1 : 0;
}

/** The checkpoint files among `files` (relative path → stat, as a tree scan gives them), newest first. */
export function checkpointsIn(
  files: Iterable<[string, FileStat]>,
  profile: { files: Glob; order: (a: CheckpointFile, b: CheckpointFile) => number },
): CheckpointFile[] {
  const out: CheckpointFile[] = [];
  for (const [path, st] of files)
    if (profile.files.matches(path)) out.push({ path, size: st.size, mtimeMs: st.mtimeMs });
  return out.sort(profile.order);
}

/**
 * Asks the solver for a checkpoint: creates the profile's trigger file, empty, in the run directory
 * (an empty one already there is a request already made). False when the profile has no trigger.
 * Refused (exit 64): something else under the trigger's name (a file with content, a directory),
 * which ferry will neither take for a trigger nor remove.
 */
export async function requestCheckpoint(runDir: string, profile: { trigger?: string }): Promise<boolean> {
  if (!profile.trigger) return false;
  const path = join(runDir, profile.trigger);
  try {
    await (await open(path, 'wx')).close();
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw localIoError(err, 'solve', path);
    if (!(await isTrigger(path)))
      throw new FerryError(
        `the checkpoint trigger ${profile.trigger} is in the run directory already, and is not empty`,
        {
          phase: 'solve',
          target: path,
          exitCode: EXIT.usage,
          hint: 'a trigger is an empty file the solver deletes: name a --checkpoint-trigger the case does not use',
        },
      );
  }
  return true;
}

/** An empty regular file: what requestCheckpoint creates (and the only thing ferry removes as a trigger). */
async function isTrigger(path: string): Promise<boolean> {
  try {
    const st = await lstat(path);
    return st.isFile() && st.size === 0;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw localIoError(err, 'solve', path);
  }
}

async function withdraw(trigger: string | undefined): Promise<void> {
  if (trigger && (await isTrigger(trigger))) await rm(trigger, { force: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw localIoError(err, 'solve', path);
  }
}

export interface WaitOptions {
  runDir: string;
  profile: { trigger?: string; files: Glob; order: (a: CheckpointFile, b: CheckpointFile) => number };
  /** The checkpoint files when the checkpoint was asked for: only a new or changed one counts. */
  before: readonly CheckpointFile[];
  /** The run directory's regular files now (relative path → size, mtime): ferry's tree scan. */
  scan: () => Promise<Iterable<[string, FileStat]>>;
  /** The run's processes now. */
  pids: () => Iterable<number>;
  /** How long to wait at most. */
  timeoutMs: number;
  /** How often to look (default 250 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

const same = (a: CheckpointFile | undefined, b: CheckpointFile) => a?.size === b.size && a.mtimeMs === b.mtimeMs;

/**
 * The newest checkpoint that is new or changed since `before` and finished: unchanged since the
 * previous look (`last`) and open for writing by none of `pids`.
 */
function finished(
  runDir: string,
  now: CheckpointFile[],
  before: readonly CheckpointFile[],
  last: Map<string, CheckpointFile>,
  pids: number[],
): CheckpointFile | undefined {
  const old = new Map(before.map((c) => [c.path, c]));
  const candidates = now.filter((c) => !same(old.get(c.path), c) && same(last.get(c.path), c));
  if (candidates.length === 0) return undefined;
  const writing = new Set(openForWriting(runDir, pids).paths);
  return candidates.find((c) => !writing.has(c.path));
}

/**
 * Waits for the checkpoint asked for with requestCheckpoint: the newest checkpoint file that is new
 * or changed since `before` and finished — no process of the run holds it open for writing, and its
 * size and mtime held still between two looks — once the solver took the trigger (deleted it, as
 * CONVERGE does; with a profile without a trigger, the first such file to appear). Undefined when
 * that does not happen within `timeoutMs`, or when the run has no process left while the trigger is
 * still there (nobody will write one); the trigger (an empty file) is then removed, so it asks
 * nothing of a later attempt. On `signal` it is removed too, and the wait rejects (AbortError).
 */
export async function waitForCheckpoint(o: WaitOptions): Promise<CheckpointFile | undefined> {
  const until = Date.now() + o.timeoutMs;
  const trigger = o.profile.trigger ? join(o.runDir, o.profile.trigger) : undefined;
  let last = new Map<string, CheckpointFile>();
  try {
    for (;;) {
      const pending = trigger ? await exists(trigger) : false;
      const pids = [...o.pids()];
      if (pending && pids.length === 0) break;
      if (!pending) {
        const now = checkpointsIn(await o.scan(), o.profile);
        const done = finished(o.runDir, now, o.before, last, pids);
        if (done) return done;
        last = new Map(now.map((c) => [c.path, c]));
      }
      if (Date.now() >= until) break;
      await sleep(Math.min(o.pollMs ?? 250, Math.max(0, until - Date.now())), undefined, { signal: o.signal });
    }
  } catch (err) {
    await withdraw(trigger);
    throw err;
  }
  await withdraw(trigger);
  return undefined;
}
