// What every store's upload does with a local file's parts: read them exactly (a file that shrinks is
// an upload that fails), and hand them in file order to a whole-file hash while they go out in parallel.
import type { FileHandle } from 'node:fs/promises';
import { EXIT, FerryError } from '../errors.ts';

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

/** Fills `buf` from `pos` of `file`, or fails with 73 (the file shrank under us). */
export async function readExactly(fh: FileHandle, buf: Buffer, pos: number, file: string): Promise<Buffer> {
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
