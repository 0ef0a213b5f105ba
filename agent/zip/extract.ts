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
import { AbortGate } from '../signals.ts';
import { checkInflated, dataSpan, LOCAL_HEADER, REFUSE } from './entry-checks.ts';
import { InflatePool } from './inflate-pool.ts';
import { checkLanded, type LandedEntry } from './landed.ts';

import { refuse, type PlannedEntry } from './plan.ts';

export { freeBytes, planExtraction, refuse, safeEntryPath, type PlannedEntry } from './plan.ts';
export type { LandedEntry } from './landed.ts';

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

/** A small entry whose bytes are on disk: read, inflated, checked and written by a worker thread. */
async function inflateSmall(
  zip: string,
  file: string,
  p: PlannedEntry,
  target: string,
  pool: InflatePool,
  opts: ExtractOptions,
  stop?: AbortSignal,
): Promise<void> {
  const { entry } = p;
  const readEnd = smallReadEnd(p);
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
      [opts.signal, stop],
    )
    .finally(() => temps.gone(tmp));
  if (!r.ok && 'refuse' in r) throw refuse(zip, entry.name, r.refuse);
  if (!r.ok) throw localIoError(Object.assign(new Error(r.io.message), r.io), 'extract', target);
}

/**
 * Small entries admitted at once, in the archive's order, to wait for their bytes and queue for the
 * workers: an entry whose bytes came first (the download reads many parts at once) is not held up
 * behind one still arriving. Enough to span the parts read at once (bench row: 1,024 entries are
 * ~28 MiB of the zip), few enough that waiting costs little (40,000 waiting at once: 4× the time,
 * ~150 MiB of heap). Before the window, an entry is a closure in its queue.
 */
const SMALL_WINDOW = 1024;

/** What every entry's extraction shares: the archive, the slots, the workers, the stop on the first failure. */
interface Extraction {
  zip: string;
  file: string;
  dir: string;
  opts: ExtractOptions;
  /** Ends the waits (and what has not started) once an entry failed: its error is the reason. */
  gate: AbortGate;
  handle: () => Promise<FileHandle>;
  run: ReturnType<typeof pLimit>;
  window: ReturnType<typeof pLimit>;
  pool: () => InflatePool;
}

const go = (x: Extraction) => {
  x.opts.signal?.throwIfAborted();
  x.gate.signal.throwIfAborted();
};

/**
 * A small entry (admitted through the window: only a closure waits outside it), once its bytes are
 * here, goes to the workers' queue (a job holds no bytes; each worker holds one entry at a time).
 * Work under way is not stopped by another entry's failure: only the waits are.
 */
async function extractSmall(x: Extraction, p: PlannedEntry): Promise<void> {
  await x.gate.wait(x.opts.ready?.(p.entry.localHeaderOffset, smallReadEnd(p)));
  go(x);
  await inflateSmall(x.zip, x.file, p, join(x.dir, p.rel), x.pool(), x.opts, x.gate.signal);
}

/** A landed entry (checked once its bytes are all here) or a large one (streamed as they come), in a slot. */
async function extractInSlot(x: Extraction, p: PlannedEntry, landed: Promise<LandedEntry> | undefined) {
  const l = await x.gate.wait(landed);
  if (l) await x.gate.wait(x.opts.ready?.(l.start, l.end));
  const target = join(x.dir, p.rel);
  // These hold buffers and file handles here: they take a slot.
  await x.run(async () => {
    go(x);
    if (l) await checkLanded(x.zip, p, target, l, x.opts);
    else await writeEntry(x.zip, x.handle, p, target, x.opts);
  });
}

/** Runs an entry's work: once done, its file is counted; a failure stops the other entries. */
function tracked(failed: AbortController, files: string[], opts: ExtractOptions) {
  return async (p: PlannedEntry, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      failed.abort(err);
      throw err;
    }
    files.push(p.rel);
    opts.onFile?.(p.entry.size);
  };
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
    opts,
    gate: new AbortGate(failed.signal),
    handle: () => (opened ??= open(file, 'r')),
    run: pLimit(opts.concurrency ?? availableParallelism() * 2),
    window: pLimit(SMALL_WINDOW),
    pool: () => (pool ??= new InflatePool()),
  };
  const track = tracked(failed, files, opts);
  // Small entries wait for their bytes in the window, landed ones outside the slots (both: see SMALL_WINDOW).
  const each = (p: PlannedEntry) => {
    const landed = opts.landed?.(p);
    const small = p.entry.size <= IN_MEMORY_MAX && p.entry.compressedSize <= IN_MEMORY_MAX;
    if (small && !landed) return x.window(() => track(p, () => extractSmall(x, p)));
    return track(p, () => extractInSlot(x, p, landed));
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
