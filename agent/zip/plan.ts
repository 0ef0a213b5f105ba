// Every entry of a zip is checked before anything is written: paths, links, encryption, methods,
// overlaps and the total size. Knows nothing of stores.
import { statfs } from 'node:fs/promises';
import { sep } from 'node:path';
import { EXIT, FerryError } from '../errors.ts';
import type { CentralDirectory, ZipEntry } from './central.ts';
import { LOCAL_HEADER, REFUSE } from './entry-checks.ts';

export interface PlannedEntry {
  entry: ZipEntry;
  /** Safe relative path (platform separators). */
  rel: string;
  isDir: boolean;
  /** No byte of this entry may lie at or past this offset (next entry, or the central directory). */
  limit: number;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const METHODS: Record<number, string> = {
  9: 'Deflate64',
  12: 'bzip2',
  14: 'LZMA',
  93: 'Zstandard',
  95: 'XZ',
  99: 'AES',
};

export function refuse(zip: string, entry: string, reason: string, hint?: string): FerryError {
  return new FerryError(`refusing archive: entry '${entry}' ${reason}`, {
    phase: 'extract',
    target: zip,
    exitCode: EXIT.dataErr,
    hint:
      hint ??
      'the input archive is broken or unsafe: re-create it with zip or 7z from the case folder and upload it again',
  });
}

/** The safe relative path of an entry, or a refusal: no absolute paths, drive letters or '..'. */
export function safeEntryPath(zip: string, name: string): string {
  const norm = name.replace(/\\/g, '/');
  if (norm.startsWith('/') || /^[A-Za-z]:/.test(norm)) throw refuse(zip, name, 'has an absolute path');
  const parts = norm.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw refuse(zip, name, 'escapes the target directory with ..');
  if (name.includes('\0')) throw refuse(zip, name, 'has a NUL byte in its name');
  return parts.join(sep);
}

export interface PlanOptions {
  maxBytes: number;
  limitName: string;
  /** Entries (relative path with '/') the caller keeps for itself: left out, reported to `onSkip`. */
  skip?: (rel: string) => boolean;
  onSkip?: (entry: string) => void;
}

/** Refuses an entry ferry must not write: a link, encrypted, an unknown method, sizes that lie, overlaps. */
function checkEntry(zip: string, entry: ZipEntry, isDir: boolean, limit: number): void {
  const mode = entry.externalAttrs >>> 16;
  if (entry.madeBy === 3 && (mode & S_IFMT) === S_IFLNK) {
    throw refuse(zip, entry.name, 'is a symbolic link', 'archive the files themselves (zip without -y)');
  }
  if (entry.flags & 0x41) throw refuse(zip, entry.name, 'is encrypted', 'upload an archive without a password');
  if (!isDir && entry.method !== 0 && entry.method !== 8) {
    const method = METHODS[entry.method] ?? entry.method;
    const hint = 're-create the archive with plain Deflate (zip -r, or 7z a -tzip -mm=Deflate)';
    throw refuse(zip, entry.name, `uses compression method ${method}, which ferry does not inflate`, hint);
  }
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    const says = `declares ${entry.compressedSize} bytes stored and ${entry.size} unpacked`;
    throw refuse(zip, entry.name, `is stored uncompressed but ${says}`);
  }
  if (entry.localHeaderOffset + LOCAL_HEADER + entry.compressedSize > limit)
    throw refuse(zip, entry.name, REFUSE.overlaps);
}

/** Where each entry must end: at the next entry's local header, or at the central directory. */
function limitsOf(cd: CentralDirectory): Map<ZipEntry, number> {
  const sorted = [...cd.entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const limits = new Map<ZipEntry, number>();
  sorted.forEach((e, i) => limits.set(e, i + 1 < sorted.length ? sorted[i + 1].localHeaderOffset : cd.offset));
  return limits;
}

/** Checks every entry (paths, links, encryption, methods, overlaps, total size) before any write. */
export function planExtraction(zip: string, cd: CentralDirectory, opts: PlanOptions): PlannedEntry[] {
  const limits = limitsOf(cd);
  const seen = new Map<string, string>();
  const plan: PlannedEntry[] = [];
  let total = 0;
  for (const entry of cd.entries) {
    const rel = safeEntryPath(zip, entry.name);
    const isDir = entry.name.endsWith('/') || entry.name.endsWith('\\');
    if (rel === '') continue;
    const limit = limits.get(entry)!;
    checkEntry(zip, entry, isDir, limit);
    const key = rel.toLowerCase();
    const prev = seen.get(key);
    if (prev !== undefined && !isDir) throw refuse(zip, entry.name, `appears twice (also as '${prev}')`);
    seen.set(key, entry.name);
    if (!isDir && opts.skip?.(rel.split(sep).join('/'))) {
      opts.onSkip?.(entry.name);
      continue;
    }
    total += entry.size;
    plan.push({ entry, rel, isDir, limit });
  }
  if (total > opts.maxBytes) {
    throw new FerryError(
      `archive would unpack to ${total} bytes, more than ${opts.limitName} (${opts.maxBytes} bytes)`,
      {
        phase: 'extract',
        target: zip,
        exitCode: opts.limitName === 'the free disk space' ? EXIT.ioErr : EXIT.dataErr,
        hint: 'use a node with more scratch space, or raise --max-extract if the archive is trusted',
      },
    );
  }
  return plan;
}

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
