// What every store's upload does with a local file: cut it in parts (sized within the store's limit),
// read them exactly into pool buffers (a file that shrinks is an upload that fails), send them side by
// side, and hand them in file order to a whole-file hash; or send it whole when it fits one part.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { EXIT, FerryError } from '../errors.ts';
import { eachIndex } from '../workers.ts';
import type { ByteBudget } from './budget.ts';
import type { Meter } from './store.ts';

const MiB = 1024 * 1024;

/**
 * The part size for a file of `size` bytes: `base` (--part-size), grown in whole MiB as much as
 * needed to stay within the store's `maxParts` parts (S3: 10,000; Azure: 50,000 blocks), as the AWS
 * CLI and rclone do. Files up to a part go in one request.
 */
export function partSizeFor(size: number, base: number, maxParts: number): number {
  if (Math.ceil(size / base) <= maxParts) return base;
  return Math.ceil(size / maxParts / MiB) * MiB;
}

/** What an upload needs of the file it reads: positioned reads, and a close. */
export interface OpenFile {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * Files up to this size are opened, read and closed with synchronous calls: three syscalls of a few
 * µs against three trips through libuv's thread pool (~30 µs each, and their promises): with 2,000
 * files of 10 KB, open + read + close were 8% of ferry's CPU. Small enough never to hold the event loop.
 */
export const SYNC_READ_MAX = 256 * 1024;

/**
 * Opens `file` (of `size` bytes when it was scanned) for an upload. O_NONBLOCK: a FIFO swapped in
 * since the scan opens at once (a blocking open would wait for a writer: in the pool, or on the event
 * loop for the synchronous path); anything but a regular file is then refused.
 */
export async function openForUpload(file: string, size: number): Promise<OpenFile> {
  // O_NOFOLLOW: a symbolic link swapped in since the scan is refused, never read through (its target
  // may be outside the run directory).
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
  const refuseLink = (err: unknown) => {
    throw (err as { code?: string }).code === 'ELOOP' ? notRegular(file) : err;
  };
  if (size > SYNC_READ_MAX) {
    const fh = await open(file, flags).catch(refuseLink);
    if ((await fh.stat()).isFile()) return fh;
    await fh.close();
    throw notRegular(file);
  }
  let fd = -1;
  try {
    fd = openSync(file, flags);
  } catch (err) {
    refuseLink(err);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw notRegular(file);
  }
  return {
    read: async (buf, off, len, pos) => ({ bytesRead: readSync(fd, buf, off, len, pos) }),
    close: async () => closeSync(fd),
  };
}

function notRegular(file: string): FerryError {
  return new FerryError('it is no longer a regular file (replaced since the scan): not uploaded', {
    phase: 'upload',
    target: file,
    exitCode: EXIT.cantCreate,
    hint: 'something replaced it in the run directory; it stays there',
  });
}

/** Fills `buf` from `pos` of `file`, or fails with 73 (the file shrank under us). */
export async function readExactly(fh: OpenFile, buf: Buffer, pos: number, file: string): Promise<Buffer> {
  const len = buf.length;
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) {
      throw new FerryError(
        `the file ended at byte ${pos + got}, expected ${pos + len}: it changed while being uploaded`,
        {
          phase: 'upload',
          target: file,
          exitCode: EXIT.cantCreate,
          hint: 'something still writes it; it is uploaded again once it settles, or re-run the row',
        },
      );
    }
    got += bytesRead;
  }
  return buf;
}

/**
 * Hands parts' bytes to `consume` in file order (for a whole-file hash): a part that arrives early
 * waits for the ones before it, holding its buffer (which stays counted in the pool until then).
 */
export class InOrder {
  private readonly pending = new Map<number, Buffer>();
  private readonly waiting = new Map<number, () => void>();
  private next = 0;

  constructor(private readonly consume?: (buf: Buffer) => void) {}

  /** Resolves once part `i` has been consumed (at once without a consumer). */
  add(i: number, buf: Buffer): Promise<void> {
    if (!this.consume) return Promise.resolve();
    const done = new Promise<void>((r) => this.waiting.set(i, r));
    this.pending.set(i, buf);
    while (this.pending.has(this.next)) {
      this.consume(this.pending.get(this.next)!);
      this.pending.delete(this.next);
      this.waiting.get(this.next)?.();
      this.waiting.delete(this.next++);
    }
    return done;
  }
}

/** A local file going out in parts: where it is, how it is cut, and what holds its bytes. */
export interface FileParts {
  fh: OpenFile;
  file: string;
  size: number;
  partSize: number;
  /** Parts of this file in flight. Memory: each holds one part, granted by `budget`. */
  partsPerFile: number;
  budget: ByteBudget;
  signal?: AbortSignal;
  /** Each part's bytes in file order (for whole-file hashes), while they go out in parallel. */
  onOrdered?: (buf: Buffer) => void;
  /** The ledger each part's bytes are counted in, once sent. */
  meter?: Meter;
  /**
   * True for a part the store already holds with these bytes (sent while the file grew): it is neither
   * hashed with MD5 nor sent, and still handed to `onOrdered`.
   */
  unchanged?: (i: number, buf: Buffer) => boolean;
}

/** Part `i` read and ready: its bytes, their MD5 (every store's requests carry it), the shared signal. */
export type SendPart = (i: number, buf: Buffer, md5: Buffer, signal: AbortSignal) => Promise<void>;

/**
 * Every store's upload in parts, in lib-storage's shape: `partsPerFile` workers pull part numbers
 * from one counter (agent/workers.ts), each part read exactly into a pool buffer, hashed, sent by the
 * store's `send`, and handed in file order to `onOrdered`; a buffer goes back to the pool only once
 * both are done. The first failure stops the others, every worker is awaited, and that failure
 * rethrows: the store then aborts (S3) or leaves its staged blocks to expire (Azure). Returns the count.
 */
export async function sendParts(p: FileParts, send: SendPart): Promise<number> {
  const count = Math.ceil(p.size / p.partSize);
  const inOrder = new InOrder(p.onOrdered);
  await eachIndex(
    count,
    p.partsPerFile,
    async (i, signal) => {
      const pos = i * p.partSize;
      const { buf, release } = await p.budget.take(Math.min(p.partSize, p.size - pos), signal);
      try {
        await readExactly(p.fh, buf, pos, p.file);
        const consumed = inOrder.add(i, buf);
        if (!p.unchanged?.(i, buf)) await send(i, buf, createHash('md5').update(buf).digest(), signal);
        p.meter?.addBytes(buf.length);
        await untilAborted(consumed, signal); // an earlier part that failed is never consumed
      } finally {
        release();
      }
    },
    { signal: p.signal, stopOnError: true },
  );
  return count;
}

/** The single-request path of every store: the whole file in one pool buffer, with its MD5. */
export async function withWholeFile<T>(
  p: Pick<FileParts, 'fh' | 'file' | 'size' | 'budget' | 'signal' | 'meter'>,
  send: (buf: Buffer, md5: Buffer) => Promise<T>,
): Promise<T> {
  const { buf, release } = await p.budget.take(p.size, p.signal);
  try {
    await readExactly(p.fh, buf, 0, p.file);
    const sent = await send(buf, createHash('md5').update(buf).digest());
    p.meter?.addBytes(buf.length);
    return sent;
  } finally {
    release();
  }
}

function untilAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
