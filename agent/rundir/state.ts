import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STATE_FILE } from '../names.ts';
import type { Log } from '../log.ts';
import type { FileState, Scan, Snapshot } from './tree.ts';

interface StateJson {
  version: 1 | 2 | 3 | 4;
  /** Which row this directory's state is of (v4): its output prefix and input URIs. */
  row?: string;
  /** This row's run id: the same for every attempt in this run directory (v2). */
  runId?: string;
  /** Files that were in the run directory before the first attempt (the platform's, not the run's). */
  /** v1/v2 kept mtime as a string of nanoseconds (mtimeNs); v3 as milliseconds (mtimeMs). */
  preExisting: Record<string, { size: number; mtimeNs?: string; mtimeMs?: number }>;
  /** Directories that were there before the first attempt (v2). */
  preExistingDirs?: string[];
}

export interface RunState {
  runId: string;
  /** Files there before ferry first ran here (not outputs, not ferry's to delete). */
  files: Snapshot;
  /** Directories there before ferry first ran here (never removed by the wipe). */
  dirs: Set<string>;
  /** True when an earlier attempt of this row ran in this directory. */
  rerun: boolean;
  /** The row the state is of (its output prefix and input URIs, as given). */
  row: string;
}

/**
 * The run directory's state before ferry first ran here. On the first attempt that is `now` (and it
 * is recorded with a new run id); on a re-run it is what the first attempt recorded, so outputs an
 * earlier attempt left behind still count as outputs (and get uploaded if S3 lacks them).
 */
export async function loadRunState(dir: string, now: Scan, row: string, log?: Log): Promise<RunState> {
  const path = join(dir, STATE_FILE);
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as StateJson;
    if (s.row !== undefined && s.row !== row) {
      log?.warn(
        `${STATE_FILE} here is another row's (${s.row}): not an earlier attempt of this one; ` +
          "what that row left counts as files that were here before (kept, never this row's outputs)",
      );
      throw new Error('another row');
    }
    if (s.version >= 1 && s.version <= 4) {
      const files: Snapshot = new Map(
        Object.entries(s.preExisting).map(([k, v]) => [
          k,
          { size: v.size, mtimeMs: v.mtimeMs ?? nsToMs(v.mtimeNs ?? '0') } satisfies FileState,
        ]),
      );
      const dirs = new Set(s.preExistingDirs ?? []);
      const state = { runId: s.runId ?? randomUUID(), files, dirs, rerun: true, row };
      if (!s.runId || s.row === undefined) await save(path, state);
      return state;
    }
  } catch {
    // first attempt (or an unreadable state file: treat as first)
  }
  const state = { runId: randomUUID(), files: now.files, dirs: new Set(now.dirs), rerun: false, row };
  await save(path, state);
  return state;
}

/** Nanoseconds (an old state file's string) as lstat's milliseconds, computed as Node computes them. */
function nsToMs(ns: string): number {
  const n = BigInt(ns);
  return Number(n / 1_000_000_000n) * 1000 + Number(n % 1_000_000_000n) / 1e6;
}

async function save(path: string, s: RunState): Promise<void> {
  const json: StateJson = {
    version: 4,
    row: s.row,
    runId: s.runId,
    preExisting: Object.fromEntries([...s.files].map(([k, v]) => [k, { size: v.size, mtimeMs: v.mtimeMs }])),
    preExistingDirs: [...s.dirs],
  };
  await writeFile(path, JSON.stringify(json));
}
