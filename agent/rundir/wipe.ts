import { rmdirSync, unlinkSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isOwnObject, LOCK_FILE, RUN_LOG, STATE_FILE } from '../names.ts';
import { everyBatch, fileStateSync, sameFile, type FileState, type Scan, type Snapshot } from './tree.ts';

export interface Kept {
  path: string;
  reason: string;
}

/** What the wipe deletes (each file only while it is still in the state given) and what stays. */
export interface WipePlan {
  /** Relative path → the state the file must still have; undefined: delete whatever it holds. */
  remove: Map<string, FileState | undefined>;
  /** Directories the run created, deepest first: removed once empty. */
  dirs: string[];
  kept: Kept[];
}

export interface Accounts {
  /** The final scan of the run directory. */
  scan: Scan;
  /** Files ferry downloaded or extracted, as they were right after extraction. */
  inputs: Snapshot;
  /** Files verified in S3, as they were when read for the upload. */
  uploaded: Map<string, FileState>;
  /** Job inputs named on the command line (--aws-config, --vars, ferry itself), at the run dir's top. */
  named: { has(rel: string): boolean };
  /** ferry's own files: the wipe deletes its state and temp files, keeps its console (default: the state file). */
  own?: { removable(rel: string): boolean; console: ReadonlySet<string> };
  /** Files there before ferry first ran, and directories likewise. */
  preFiles: Snapshot;
  preDirs: Set<string>;
  /** Files not uploaded, with the reason. */
  notUploaded: Map<string, string>;
}

const CONSOLE = "ferry's own output is written to it (its stdout or stderr redirected into the run directory)";

/**
 * The wipe deletes exactly what is accounted for: inputs as extracted and still unchanged, outputs
 * verified in S3 and unchanged since they were read (size, mtime, ctime, inode), the job inputs
 * named on the command line, and ferry's own state and temp files. Everything else stays and is
 * listed (`kept`), with the reason — a file that was there before ferry started always stays, also
 * when the run changed it (then it is uploaded too).
 */
export function planWipe(a: Accounts): WipePlan {
  const remove = new Map<string, FileState | undefined>();
  const kept: Kept[] = [];
  const own = a.own ?? { removable: (rel: string) => rel === STATE_FILE, console: new Set<string>() };
  for (const [rel, st] of a.scan.files) {
    if (rel === RUN_LOG || rel === LOCK_FILE) continue;
    if (own.console.has(rel)) kept.push({ path: rel, reason: CONSOLE });
    else if (own.removable(rel) || a.named.has(rel)) remove.set(rel, undefined);
    else if (a.preFiles.has(rel)) kept.push({ path: rel, reason: keptReason(rel, a) });
    else if (sameFile(a.uploaded.get(rel), st)) remove.set(rel, a.uploaded.get(rel));
    else if (sameFile(a.inputs.get(rel), st)) remove.set(rel, a.inputs.get(rel));
    else kept.push({ path: rel, reason: keptReason(rel, a) });
  }
  for (const l of a.scan.symlinks) {
    if (a.named.has(l))
      remove.set(l, undefined); // a link to ferry: the link goes, never its target
    else kept.push({ path: l, reason: 'a symbolic link (never followed or uploaded)' });
  }
  for (const b of a.scan.badNames)
    kept.push({ path: b, reason: a.notUploaded.get(b) ?? 'its name is not valid UTF-8, so no S3 key can name it' });
  for (const [rel, why] of a.scan.unreadable ?? []) kept.push({ path: rel, reason: a.notUploaded.get(rel) ?? why });
  const dirs = a.scan.dirs.filter((d) => !a.preDirs.has(d)).sort((x, y) => y.split('/').length - x.split('/').length);
  return { remove, dirs, kept: kept.sort((x, y) => (x.path < y.path ? -1 : 1)) };
}

function keptReason(rel: string, a: Accounts): string {
  const failed = a.notUploaded.get(rel);
  if (failed) return `not uploaded: ${failed}`;
  const before = a.preFiles.has(rel);
  if (before && a.uploaded.has(rel))
    return 'was in the run directory before ferry started (the run changed it: uploaded, and kept here)';
  if (a.uploaded.has(rel)) return 'changed after its upload';
  if (isOwnObject(rel)) return "its name is reserved for ferry's own object in the output prefix";
  if (before) return 'was in the run directory before ferry started';
  return 'not created by this run, or changed since ferry last saw it';
}

export interface WipeResult {
  removed: number;
  /** Files that changed between the plan and their unlink: kept. */
  changed: string[];
}

/** Deletes the plan's files one by one (re-checking each right before its unlink), then empty directories. */
export async function wipeAccounted(dir: string, plan: WipePlan): Promise<WipeResult> {
  let removed = 0;
  const changed: string[] = [];
  // The row's state goes last: killed mid-wipe, a re-run still knows this row's run id and files.
  const order = [...plan.remove].sort(([a], [b]) => Number(a === STATE_FILE) - Number(b === STATE_FILE));
  const breath = everyBatch(); // synchronous calls (tree.ts: fileStateSync), in batches
  for (const [rel, want] of order) {
    await breath();
    const path = join(dir, rel);
    if (want && !sameFile(want, fileStateSync(path))) {
      changed.push(rel);
      continue;
    }
    try {
      unlinkSync(path);
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  for (const d of plan.dirs) {
    await breath();
    try {
      rmdirSync(join(dir, d));
      removed++;
    } catch {
      // not empty: it holds what is kept
    }
  }
  return { removed, changed };
}

/** --wipe-all: empties the run directory except the run log (only after every output is verified). */
export async function wipeAll(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (name === RUN_LOG || name === LOCK_FILE || name === STATE_FILE) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  await rm(join(dir, STATE_FILE), { force: true }); // last, as in the accounted wipe
  return removed;
}
