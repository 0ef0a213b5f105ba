// Safe, parallel zip extraction. Every entry is checked before anything is written. Entries up to
// IN_MEMORY_MAX are read, inflated and CRC-checked by worker threads (one per core) and written
// only once they match; larger ones stream through zlib into a temp file renamed into place after
// their size and CRC-32 match. Knows nothing of S3: the archive is a local file that may still be
// arriving (`ready` says when a byte range is on disk).
import { mkdir, open, realpath, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, crc32 } from 'node:zlib';
import pLimit from 'p-limit';
import { EXIT, FerryError, isLocalIoError, localIoError } from '../errors.ts';
import { PART_SUFFIX } from '../names.ts';
import { settleAll } from '../settle.ts';
import { checkInflated, dataSpan, LOCAL_HEADER, REFUSE } from './entry-checks.ts';
import type { CentralDirectory, ZipEntry } from './central.ts';
import { InflatePool } from './inflate-pool.ts';

export interface PlannedEntry {
  entry: ZipEntry;
  /** Safe relative path (platform separators). */
  rel: string;
  isDir: boolean;
  /** No byte of this entry may lie at or past this offset (next entry, or the central directory). */
  limit: number;
}

export interface ExtractResult {
  files: string[];
  bytes: number;
}

export interface ExtractOptions {
  /** Entries inflated at once (default: 2 × cores). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Resolves once bytes [start, end) of the archive file are on disk (download overlap). */
  ready?: (start: number, end: number) => Promise<void>;
  /** Called with each file's size once it is in place. */
  onFile?: (bytes: number) => void;
  /** Workers for the small entries, started early by the caller (it closes them); else made here. */
  pool?: InflatePool;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
/** Entries up to this size are inflated in one buffer by a worker (memory: one such entry and its compressed bytes per worker, one worker per core); larger ones are streamed. */
const IN_MEMORY_MAX = 4 * 1024 * 1024;

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

/** Checks every entry (paths, links, encryption, methods, overlaps, total size) before any write. */
export function planExtraction(zip: string, cd: CentralDirectory, opts: PlanOptions): PlannedEntry[] {
  const sorted = [...cd.entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const limits = new Map<ZipEntry, number>();
  sorted.forEach((e, i) => limits.set(e, i + 1 < sorted.length ? sorted[i + 1].localHeaderOffset : cd.offset));
  const seen = new Map<string, string>();
  const plan: PlannedEntry[] = [];
  let total = 0;
  for (const entry of cd.entries) {
    const rel = safeEntryPath(zip, entry.name);
    const isDir = entry.name.endsWith('/') || entry.name.endsWith('\\');
    if (rel === '') continue;
    const mode = entry.externalAttrs >>> 16;
    if (entry.madeBy === 3 && (mode & S_IFMT) === S_IFLNK)
      throw refuse(zip, entry.name, 'is a symbolic link', 'archive the files themselves (zip without -y)');
    if (entry.flags & 0x41) throw refuse(zip, entry.name, 'is encrypted', 'upload an archive without a password');
    if (!isDir && entry.method !== 0 && entry.method !== 8) {
      const names: Record<number, string> = {
        9: 'Deflate64',
        12: 'bzip2',
        14: 'LZMA',
        93: 'Zstandard',
        95: 'XZ',
        99: 'AES',
      };
      throw refuse(
        zip,
        entry.name,
        `uses compression method ${names[entry.method] ?? entry.method}, which ferry does not inflate`,
        're-create the archive with plain Deflate (zip -r, or 7z a -tzip -mm=Deflate)',
      );
    }
    if (entry.method === 0 && entry.compressedSize !== entry.size)
      throw refuse(
        zip,
        entry.name,
        `is stored uncompressed but declares ${entry.compressedSize} bytes stored and ${entry.size} unpacked`,
      );
    const limit = limits.get(entry)!;
    if (entry.localHeaderOffset + LOCAL_HEADER + entry.compressedSize > limit)
      throw refuse(zip, entry.name, REFUSE.overlaps);
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

/** The most an archive may unpack to here: --max-extract, or the free space less `reserve` (the archive itself). */
export async function limitFor(
  dir: string,
  maxBytes?: number,
  reserve = 0,
): Promise<{ maxBytes: number; limitName: string }> {
  const free = Math.max(0, (await freeBytes(dir)) - reserve);
  return maxBytes !== undefined && maxBytes < free
    ? { maxBytes, limitName: 'the --max-extract limit' }
    : { maxBytes: free, limitName: 'the free disk space' };
}

/** Inflates the planned entries of the archive file `file` into `dir`. `zip` names it in errors. */
export async function extractEntries(
  zip: string,
  file: string,
  plan: PlannedEntry[],
  dir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  let opened: Promise<FileHandle> | undefined;
  const handle = () => (opened ??= open(file, 'r'));
  const run = pLimit(opts.concurrency ?? availableParallelism() * 2);
  let pool = opts.pool;
  const files: string[] = [];
  const ordered = [...plan].sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset);
  // Every directory is made once, up front (not once per entry).
  const dirs = new Set<string>();
  for (const p of ordered) dirs.add(p.isDir ? join(dir, p.rel) : dirname(join(dir, p.rel)));
  const root = await realpath(dir);
  for (const d of [...dirs].sort()) {
    await mkdir(d, { recursive: true });
    const real = await realpath(d);
    if (real !== root && !real.startsWith(root + sep)) {
      const p = ordered.find((e) => join(dir, e.rel).startsWith(d))!;
      throw refuse(
        zip,
        p.entry.name,
        `would be written through a symbolic link in the run directory (${relative(dir, d)} → ${real})`,
        'remove the link from the run directory, or extract elsewhere',
      );
    }
  }
  const one = async (p: PlannedEntry) => {
    opts.signal?.throwIfAborted();
    const target = join(dir, p.rel);
    const { entry } = p;
    if (entry.size <= IN_MEMORY_MAX && entry.compressedSize <= IN_MEMORY_MAX) {
      const readEnd = InflatePool.readEnd(entry.localHeaderOffset, entry.compressedSize, p.limit);
      await opts.ready?.(entry.localHeaderOffset, readEnd);
      opts.signal?.throwIfAborted();
      const job = {
        file,
        lho: entry.localHeaderOffset,
        readEnd,
        limit: p.limit,
        method: entry.method,
        compressedSize: entry.compressedSize,
        size: entry.size,
        crc32: entry.crc32,
        target,
      };
      const r = await (pool ??= new InflatePool()).run(job);
      if (!r.ok && 'refuse' in r) throw refuse(zip, entry.name, r.refuse);
      if (!r.ok) throw localIoError(Object.assign(new Error(r.io.message), r.io), 'extract', target);
    } else await writeEntry(zip, handle, p, target, opts);
    files.push(p.rel);
    opts.onFile?.(p.entry.size);
  };
  try {
    await settleAll(ordered.filter((p) => !p.isDir).map((p) => run(() => one(p))));
  } catch (err) {
    if (err instanceof FerryError || (err as Error)?.name === 'AbortError') throw err;
    throw isLocalIoError(err) ? localIoError(err, 'extract', dir) : err;
  } finally {
    await (await opened?.catch(() => undefined))?.close();
    if (pool !== opts.pool) await pool?.close();
  }
  return { files: files.sort(), bytes: plan.reduce((n, p) => n + p.entry.size, 0) };
}

/** Streams one large entry through zlib into a temp file, renamed into place once size and CRC-32 match. */
async function writeEntry(
  zip: string,
  handle: () => Promise<FileHandle>,
  p: PlannedEntry,
  target: string,
  opts: ExtractOptions,
): Promise<void> {
  const { entry } = p;
  const lho = entry.localHeaderOffset;
  await opts.ready?.(lho, Math.min(p.limit, lho + 30));
  const fh = await handle(); // opened once the first bytes are on disk
  const head = Buffer.alloc(LOCAL_HEADER);
  const { bytesRead } = await fh.read(head, 0, head.length, lho);
  const span = dataSpan(head.subarray(0, bytesRead), lho, entry.compressedSize, p.limit);
  if (typeof span === 'string') throw refuse(zip, entry.name, span);
  const { start, end } = span;
  await opts.ready?.(start, end);

  const tmp = `${target}${PART_SUFFIX}`;
  try {
    let n = 0;
    let crc = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        if (n > entry.size) return cb(refuse(zip, entry.name, REFUSE.inflatesPast(entry.size)));
        crc = crc32(chunk, crc);
        cb(null, chunk);
      },
    });
    const source = fh.createReadStream({ start, end: end - 1, autoClose: false, highWaterMark: 1024 * 1024 });
    await rm(tmp, { force: true });
    const out = await open(tmp, 'wx'); // wx: never through a link planted at the temp name
    try {
      const sink = out.createWriteStream({ highWaterMark: 1024 * 1024 });
      const stages: NodeJS.ReadWriteStream[] = entry.method === 0 ? [count] : [createInflateRaw(), count];
      await pipeline([source, ...stages, sink], { signal: opts.signal });
    } catch (err) {
      if (err instanceof FerryError || isLocalIoError(err) || (err as Error).name === 'AbortError') throw err;
      throw refuse(zip, entry.name, REFUSE.cannotInflate((err as Error).message));
    } finally {
      await out.close().catch(() => {});
    }
    const bad = checkInflated(n, crc, entry);
    if (bad) throw refuse(zip, entry.name, bad);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
