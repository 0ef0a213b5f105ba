import { EXIT, FerryError } from '../errors.ts';

/** S3's limits: parts per multipart upload, and the largest part. */
export const MAX_PARTS = 10_000;
export const MAX_PART_SIZE = 5 * 1024 ** 3;
/** The largest object S3 stores (5 TiB). */
export const MAX_OBJECT = 5 * 1024 ** 4;
const MiB = 1024 * 1024;

/**
 * The part size for a file of `size` bytes: --part-size, grown (in whole MiB) as much as needed to
 * stay within `maxParts` parts, as the AWS CLI and rclone do. Files up to a part go in one request.
 */
export function partSizeFor(size: number, base: number, maxParts = MAX_PARTS): number {
  if (Math.ceil(size / base) <= maxParts) return base;
  return Math.ceil(size / maxParts / MiB) * MiB;
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
