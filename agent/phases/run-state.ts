import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileState, Snapshot } from './outputs.ts';

/** Kept in the run directory between attempts of one row; removed by the wipe. */
export const STATE_FILE = '.ferry-state.json';

interface StateJson {
  version: 1;
  /** Files that were in the run directory before the first attempt (the platform's, not the run's). */
  preExisting: Record<string, { size: number; mtimeNs: string }>;
}

/**
 * The files that were in the run directory before ferry first ran here. On the first attempt that
 * is `now` (and it is recorded); on a re-run it is what the first attempt recorded, so outputs an
 * earlier attempt left behind still count as outputs (and get uploaded if S3 lacks them).
 */
export async function preExistingFiles(dir: string, now: Snapshot): Promise<{ files: Snapshot; rerun: boolean }> {
  const path = join(dir, STATE_FILE);
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as StateJson;
    if (s.version === 1) {
      const files: Snapshot = new Map(Object.entries(s.preExisting).map(([k, v]) => [k, { size: v.size, mtimeNs: BigInt(v.mtimeNs) } satisfies FileState]));
      return { files, rerun: true };
    }
  } catch {
    // first attempt (or an unreadable state file: treat as first)
  }
  const json: StateJson = { version: 1, preExisting: Object.fromEntries([...now].map(([k, v]) => [k, { size: v.size, mtimeNs: String(v.mtimeNs) }])) };
  await writeFile(path, JSON.stringify(json));
  return { files: now, rerun: false };
}
