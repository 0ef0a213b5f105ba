// Safe, parallel zip extraction. Every entry is checked before anything is written. Entries up to
// IN_MEMORY_MAX are read, inflated and CRC-checked by worker threads (one per core) and written
// only once they match; larger ones stream through zlib into a temp file renamed into place after
// their size and CRC-32 match. Knows nothing of S3: the archive is a local file that may still be
// arriving (`ready` says when a byte range is on disk).
import { mkdir, open, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, crc32 } from 'node:zlib';
import pLimit from 'p-limit';
import { FerryError, isLocalIoError, localIoError } from '../errors.ts';
import { oneOffTemps, type TempNames } from '../names.ts';
import { settleAll } from '../settle.ts';
import { linked, orAbort } from '../signals.ts';
import { checkInflated, dataSpan, LOCAL_HEADER, REFUSE } from './entry-checks.ts';
import { InflatePool } from './inflate-pool.ts';

import { refuse, type PlannedEntry } from './plan.ts';

export { freeBytes, planExtraction, refuse, safeEntryPath, type PlannedEntry } from './plan.ts';

export interface ExtractResult {
  files: string[];
  bytes: number;
}

export interface ExtractOptions {
  /** Large and landed entries worked on at once (default: 2 × cores); small ones queue for the workers. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Resolves once bytes [start, end) of the archive file are on disk (download overlap). */
  ready?: (start: number, end: number) => Promise<void>;
  /** Called with each file's size once it is in place. */
  onFile?: (bytes: number) => void;
  /** Workers for the small entries, started early by the caller (it closes them); else made here. */
  pool?: InflatePool;
  /** Where temp names come from (a run's record of its own files); else one-off names. */
  temps?: TempNames;
  /** Called once the directories are made and checked (entries may be written from then on). */
  onDirs?: () => void;
  /** Entries whose bytes the download writes straight into a temp file: only checked and renamed here. */
  landed?: (p: PlannedEntry) => Promise<LandedEntry> | undefined;
}

/** An entry the download writes straight into its temp file (no copy of the archive in between). */
export interface LandedEntry {
  /** Where its data lies in the archive. */
  start: number;
  end: number;
  /** Its temp name beside its target, renamed into place once size and CRC-32 match. */
  tmp: string;
  /**
   * The CRC-32 of what was written into it, once every byte is there, when it could be kept as
   * the bytes went by; undefined: read it back for it.
   */
  crc?: () => number | undefined;
}

/**
 * Entries up to this size are inflated in one buffer by a worker (memory: one such entry and its
 * compressed bytes per worker, one worker per core); larger ones are streamed.
 */
const IN_MEMORY_MAX = 4 * 1024 * 1024;

/**
 * Every directory the entries need, made once, up front (not once per entry); a directory that
 * resolves outside `dir` (a link planted in the run directory) is refused before anything is written.
 */
async function makeDirs(zip: string, dir: string, ordered: PlannedEntry[]): Promise<void> {
  const dirs = new Set<string>();
  for (const p of ordered) dirs.add(p.isDir ? join(dir, p.rel) : dirname(join(dir, p.rel)));
  const root = await realpath(dir);
  for (const d of [...dirs].sort()) {
    await mkdir(d, { recursive: true });
    const real = await realpath(d);
    if (real === root || real.startsWith(root + sep)) continue;
    const p = ordered.find((e) => join(dir, e.rel).startsWith(d))!;
    const why = `would be written through a symbolic link in the run directory (${relative(dir, d)} → ${real})`;
    throw refuse(zip, p.entry.name, why, 'remove the link from the run directory, or extract elsewhere');
  }
}

/** Where a small entry's read ends: its local header and data. */
const smallReadEnd = (p: PlannedEntry) =>
  InflatePool.readEnd(p.entry.localHeaderOffset, p.entry.compressedSize, p.limit);

/** A small entry: read, inflated, checked and written by a worker thread once its bytes are on disk. */
async function inflateSmall(
  zip: string,
  file: string,
  p: PlannedEntry,
  target: string,
  pool: InflatePool,
  opts: ExtractOptions,
): Promise<void> {
  const { entry } = p;
  const readEnd = smallReadEnd(p);
  await opts.ready?.(entry.localHeaderOffset, readEnd);
  opts.signal?.throwIfAborted();
  const { method, compressedSize, size, crc32 } = entry;
  const temps = opts.temps ?? oneOffTemps();
  const tmp = temps.temp(target); // used only when a file of that name is there already (a re-run)
  const r = await pool
    .run(
      {
        file,
        lho: entry.localHeaderOffset,
        readEnd,
        limit: p.limit,
        method,
        compressedSize,
        size,
        crc32,
        target,
        tmp,
      },
      opts.signal,
    )
    .finally(() => temps.gone(tmp));
  if (!r.ok && 'refuse' in r) throw refuse(zip, entry.name, r.refuse);
  if (!r.ok) throw localIoError(Object.assign(new Error(r.io.message), r.io), 'extract', target);
}

/** What every entry's extraction shares: the archive, the slots, the workers, the stop on the first failure. */
interface Extraction {
  zip: string;
  file: string;
  dir: string;
  opts: ExtractOptions & { signal: AbortSignal };
  handle: () => Promise<FileHandle>;
  run: ReturnType<typeof pLimit>;
  pool: () => InflatePool;
}

/** One entry, from the wait for its bytes to its file in place. */
async function extractOne(x: Extraction, p: PlannedEntry): Promise<void> {
  const { zip, file, dir, opts: o } = x;
  const { signal } = o;
  const target = join(dir, p.rel);
  const small = p.entry.size <= IN_MEMORY_MAX && p.entry.compressedSize <= IN_MEMORY_MAX;
  // A small or landed entry waits for its bytes before anything else: entries whose bytes came
  // first (the download reads many parts at once) are not held up behind one still arriving.
  const l = await orAbort(o.landed?.(p), signal);
  if (l) await orAbort(o.ready?.(l.start, l.end), signal);
  else if (small) await orAbort(o.ready?.(p.entry.localHeaderOffset, smallReadEnd(p)), signal);
  signal.throwIfAborted();
  // A small entry goes to the workers' queue at once (a job holds no bytes; each worker holds one
  // entry at a time); the others, which hold buffers and file handles here, take a slot.
  if (small && !l) return inflateSmall(zip, file, p, target, x.pool(), o);
  await x.run(async () => {
    signal.throwIfAborted();
    if (l) await checkLanded(zip, p, target, l, o);
    else await writeEntry(zip, x.handle, p, target, o);
  });
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
  let pool = opts.pool;
  const files: string[] = [];
  const ordered = [...plan].sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset);
  await makeDirs(zip, dir, ordered);
  opts.onDirs?.();
  // The first entry refused (or failed) stops the others where they wait: its error is the reason.
  const failed = new AbortController();
  const x: Extraction = {
    zip,
    file,
    dir,
    opts: { ...opts, signal: linked(opts.signal, failed.signal) },
    handle: () => (opened ??= open(file, 'r')),
    run: pLimit(opts.concurrency ?? availableParallelism() * 2),
    pool: () => (pool ??= new InflatePool()),
  };
  const each = async (p: PlannedEntry) => {
    try {
      await extractOne(x, p);
    } catch (err) {
      failed.abort(err);
      throw err;
    }
    files.push(p.rel);
    opts.onFile?.(p.entry.size);
  };
  try {
    await settleAll(ordered.filter((p) => !p.isDir).map(each));
  } catch (err) {
    if (err instanceof FerryError || (err as Error)?.name === 'AbortError') throw err;
    throw isLocalIoError(err) ? localIoError(err, 'extract', dir) : err;
  } finally {
    await (await opened?.catch(() => undefined))?.close();
    if (pool !== opts.pool) await pool?.close();
  }
  return { files: files.sort(), bytes: plan.reduce((n, p) => n + p.entry.size, 0) };
}

/**
 * A stored entry the download wrote straight into its temp file: once every byte is there, its CRC-32
 * (kept as the bytes were written, else read back from the page cache) and size checked, then renamed
 * into place.
 */
async function checkLanded(
  zip: string,
  p: PlannedEntry,
  target: string,
  l: LandedEntry,
  opts: ExtractOptions,
): Promise<void> {
  await opts.ready?.(l.start, l.end);
  opts.signal?.throwIfAborted();
  const kept = l.crc?.();
  const { n, crc } = kept === undefined ? await readBackCrc(l.tmp, opts.signal) : { n: l.end - l.start, crc: kept };
  const bad = checkInflated(n, crc, p.entry);
  if (bad) throw refuse(zip, p.entry.name, bad);
  await rename(l.tmp, target);
  (opts.temps ?? oneOffTemps()).gone(l.tmp);
}

/** A file's length and CRC-32, read back (from the page cache, just written). */
async function readBackCrc(file: string, signal?: AbortSignal): Promise<{ n: number; crc: number }> {
  const fh = await open(file, 'r');
  let n = 0;
  let crc = 0;
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, n);
      if (bytesRead === 0) break;
      crc = crc32(buf.subarray(0, bytesRead), crc);
      n += bytesRead;
      signal?.throwIfAborted();
    }
  } finally {
    await fh.close();
  }
  return { n, crc };
}

/** Where a large entry's data lies in the archive, once its local header is on disk; then waits for the data. */
async function locate(zip: string, handle: () => Promise<FileHandle>, p: PlannedEntry, opts: ExtractOptions) {
  const lho = p.entry.localHeaderOffset;
  await opts.ready?.(lho, Math.min(p.limit, lho + 30));
  const fh = await handle(); // opened once the first bytes are on disk
  const head = Buffer.alloc(LOCAL_HEADER);
  const { bytesRead } = await fh.read(head, 0, head.length, lho);
  const span = dataSpan(head.subarray(0, bytesRead), lho, p.entry.compressedSize, p.limit);
  if (typeof span === 'string') throw refuse(zip, p.entry.name, span);
  await opts.ready?.(span.start, span.end);
  return { fh, ...span };
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
  const { fh, start, end } = await locate(zip, handle, p, opts);

  const temps = opts.temps ?? oneOffTemps();
  const tmp = temps.temp(target);
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
  } finally {
    temps.gone(tmp);
  }
}
