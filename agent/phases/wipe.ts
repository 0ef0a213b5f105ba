import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Empties the run directory except the names in `keep` (top level only). Called only after every
 * output was verified in S3.
 */
export async function wipeRunDir(dir: string, keep: string[]): Promise<number> {
  const entries = await readdir(dir);
  let removed = 0;
  for (const name of entries) {
    if (keep.includes(name)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
