import { EXIT, FerryError } from '../errors.ts';
import { partSizeFor as grown } from '../store/parts.ts';

/** S3's limits: parts per multipart upload, and the largest part. */
export const MAX_PARTS = 10_000;
export const MAX_PART_SIZE = 5 * 1024 ** 3;
/** The largest object S3 stores (5 TiB). */
export const MAX_OBJECT = 5 * 1024 ** 4;

/** The part size for a file of `size` bytes: --part-size, grown to stay within S3's `maxParts` parts. */
export function partSizeFor(size: number, base: number, maxParts = MAX_PARTS): number {
  return grown(size, base, maxParts);
}

/** Refuses a file S3 cannot take in one object (73: it stays in the run directory, listed as not uploaded). */
export function checkFits(file: string, size: number, part: number): void {
  if (size <= MAX_OBJECT && part <= MAX_PART_SIZE) return;
  throw new FerryError(`${size} bytes is more than S3 stores in one object (5 TiB)`, {
    phase: 'upload',
    target: file,
    exitCode: EXIT.cantCreate,
    hint: 'split the file, or keep it out of the outputs',
  });
}
