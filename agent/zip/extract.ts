import { mkdir, open, rename, rm, statfs } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { crc32 } from 'node:zlib';
import pLimit from 'p-limit';
import unzipper from 'unzipper';
import { EXIT, FerryError, localIoError } from '../errors.ts';

export interface ExtractOptions {
  /** Refuse archives whose entries add up to more than this many bytes (default: free disk space). */
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface ExtractResult {
  files: string[];
  bytes: number;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const SUPPORTED_METHODS = new Set([0, 8]);

function refuse(zip: string, entry: string, reason: string, hint?: string): FerryError {
  return new FerryError(`refusing archive: entry '${entry}' ${reason}`, {
    phase: 'extract',
    target: zip,
    exitCode: EXIT.dataErr,
    hint: hint ?? 'the input archive is broken or unsafe: re-create it with zip or 7z from the case folder and upload it again',
  });
}

/** The safe relative path of an entry, or a refusal: no absolute paths, drive letters or '..'. */
export function safeEntryPath(zip: string, name: string): string {
  const norm = name.replace(/\\/g, '/');
  if (norm.startsWith('/') || /^[A-Za-z]:/.test(norm)) throw refuse(zip, name, 'has an absolute path');
  const parts = norm.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw refuse(zip, name, 'escapes the target directory with ..');
  if (parts.some((p) => p.includes('\0'))) throw refuse(zip, name, 'has a NUL byte in its name');
  return parts.join(sep);
}

/**
 * Extracts a zip file into `dir`. Every entry is checked before anything is written (paths,
 * symlinks, encryption, methods, total size); entries are then inflated in parallel, each into a
 * temp file renamed into place only after its size and CRC-32 match the central directory.
 */
export async function extractZip(zip: string, dir: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  let directory: unzipper.CentralDirectory;
  try {
    directory = await unzipper.Open.file(zip);
  } catch (err) {
    throw new FerryError(`not a readable zip archive: ${(err as Error).message}`, {
      phase: 'extract',
      target: zip,
      exitCode: EXIT.dataErr,
      cause: err,
      hint: 'the input object is not a zip (an HTML error page or a truncated upload?): check it with unzip -t',
    });
  }
  const plan: Array<{ entry: unzipper.File; rel: string }> = [];
  let total = 0;
  for (const entry of directory.files) {
    const rel = safeEntryPath(zip, entry.path);
    if (rel === '') continue;
    const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
    if ((unixMode & S_IFMT) === S_IFLNK) throw refuse(zip, entry.path, 'is a symbolic link', 'archive the files themselves (zip without -y)');
    if (entry.flags & 1) throw refuse(zip, entry.path, 'is encrypted', 'upload an archive without a password');
    if (entry.type !== 'Directory' && !SUPPORTED_METHODS.has(entry.compressionMethod)) {
      throw refuse(zip, entry.path, `uses compression method ${entry.compressionMethod}`, 're-create the archive with Deflate (zip -r, or 7z -tzip -mm=Deflate)');
    }
    total += entry.uncompressedSize;
    plan.push({ entry, rel });
  }
  const free = await freeBytes(dir);
  const limit = opts.maxBytes ?? free;
  if (total > limit) {
    throw new FerryError(`archive would unpack to ${total} bytes, more than ${opts.maxBytes ? 'the --max-extract limit' : 'the free disk space'} (${limit} bytes)`, {
      phase: 'extract',
      target: zip,
      exitCode: opts.maxBytes ? EXIT.dataErr : EXIT.ioErr,
      hint: 'use a node with more scratch space, or raise --max-extract if the archive is trusted',
    });
  }

  const files: string[] = [];
  const run = pLimit(availableParallelism());
  const results = await Promise.allSettled(
    plan.map(({ entry, rel }) =>
      run(async () => {
        opts.signal?.throwIfAborted();
        const target = join(dir, rel);
        if (entry.type === 'Directory') {
          await mkdir(target, { recursive: true });
          return;
        }
        await mkdir(dirname(target), { recursive: true });
        await writeEntry(zip, entry, target);
        files.push(rel);
      }),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    const err = failed.reason;
    if (err instanceof FerryError || (err as Error)?.name === 'AbortError') throw err;
    throw localIoError(err, 'extract', dir);
  }
  return { files: files.sort(), bytes: total };
}

async function writeEntry(zip: string, entry: unzipper.File, target: string): Promise<void> {
  const tmp = `${target}.ferry-part`;
  const fh = await open(tmp, 'w');
  let size = 0;
  let crc = 0;
  try {
    for await (const chunk of entry.stream() as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > entry.uncompressedSize) throw refuse(zip, entry.path, `inflates to more than the ${entry.uncompressedSize} bytes its header declares`);
      crc = crc32(chunk, crc);
      await fh.write(chunk);
    }
    if (size !== entry.uncompressedSize) throw refuse(zip, entry.path, `holds ${size} bytes, its header declares ${entry.uncompressedSize}`);
    if (crc >>> 0 !== entry.crc32 >>> 0) throw refuse(zip, entry.path, 'fails its CRC-32 check (corrupt data)');
    await fh.close();
    await rename(tmp, target);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    if (err instanceof FerryError) throw err;
    if ((err as { code?: string }).code === undefined || !(err as { syscall?: string }).syscall) {
      throw refuse(zip, entry.path, `cannot be inflated: ${(err as Error).message}`);
    }
    throw err;
  }
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
