import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface FileState {
  size: number;
  mtimeNs: bigint;
}

/** Relative path ('/' separators) → size and mtime of every regular file under `dir`. */
export type Snapshot = Map<string, FileState>;

export interface Scan {
  files: Snapshot;
  /** Symbolic links found (never followed, never uploaded). */
  symlinks: string[];
}

/** Walks `dir` without following symlinks. Files named in `skip` (relative paths) are left out. */
export async function scanTree(dir: string, skip: (rel: string) => boolean = () => false): Promise<Scan> {
  const files: Snapshot = new Map();
  const symlinks: string[] = [];
  async function walk(d: string): Promise<void> {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const abs = join(d, e.name);
      const rel = relative(dir, abs).split(sep).join('/');
      if (skip(rel)) continue;
      if (e.isSymbolicLink()) symlinks.push(rel);
      else if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        const st = await lstat(abs, { bigint: true });
        files.set(rel, { size: Number(st.size), mtimeNs: st.mtimeNs });
      }
    }
  }
  await walk(dir);
  return { files, symlinks: symlinks.sort() };
}

/**
 * The files to upload: everything in `after` that is not in `before` or whose size or mtime
 * changed (the run created or changed it). With `all`, every file in `after`.
 */
export function selectOutputs(before: Snapshot, after: Snapshot, all: boolean): Array<{ rel: string; size: number }> {
  const out: Array<{ rel: string; size: number }> = [];
  for (const [rel, st] of after) {
    const prev = before.get(rel);
    if (all || !prev || prev.size !== st.size || prev.mtimeNs !== st.mtimeNs) out.push({ rel, size: st.size });
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}
