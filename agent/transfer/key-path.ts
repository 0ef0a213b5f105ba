// The rule between store keys and local paths, one for every store. S3 and Azure keys may hold '..',
// '.', empty segments and a leading '/'; a key becomes a local path only when it names a file inside
// the target directory as it stands, so nothing is ever written outside it. The other way, a local
// path becomes a key only when the store can hold it.
import { EXIT, FerryError } from '../errors.ts';
import { formatUri, type Location } from '../location.ts';
import { NAME_MAX } from '../rundir/tree.ts';

/** The longest key a store takes: S3 1,024 bytes of UTF-8 (Azure: 1,024 characters, so bytes are safe for both). */
export const MAX_KEY_BYTES = 1024;

/** Why a relative path taken from a key cannot be a local path inside the target directory, or undefined. */
export function unsafeRel(rel: string): string | undefined {
  if (rel === '') return 'names no file (it is the prefix itself)';
  if (rel.startsWith('/')) return 'starts with / (an absolute path)';
  if (rel.includes('\0')) return 'holds a NUL byte';
  const parts = rel.split('/');
  if (parts.includes('..')) return "has a '..' segment: it would land outside the run directory";
  if (parts.includes('.')) return "has a '.' segment";
  if (parts.includes('')) return 'has an empty segment (a doubled or trailing /)';
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX)) return `has a segment longer than ${NAME_MAX} bytes`;
  return undefined;
}

/**
 * The local path (relative, '/' separators) an object lands at: under a prefix input its key less the
 * prefix, for a single object its last segment. Refused (65, naming the key) when that is not a plain
 * relative path: before anything is written.
 */
export function landingPath(input: Location, key: string): string {
  const rel =
    input.key === '' || input.key.endsWith('/') ? key.slice(input.key.length) : key.slice(key.lastIndexOf('/') + 1);
  const why = unsafeRel(rel);
  if (!why) return rel;
  throw new FerryError(`refusing the input object '${key}': as a local path ('${rel}') it ${why}`, {
    phase: 'download',
    target: formatUri({ ...input, key }),
    exitCode: EXIT.dataErr,
    hint:
      'rename the object in the store: its key below the input prefix becomes a path in the run directory ' +
      "(no '..' or '.' segments, no empty segments, no leading /); or leave it out of the input prefix",
  });
}

/** Why the file at `rel` cannot be uploaded under `prefix` (its key too long for the store), or undefined. */
export function unfitKey(prefix: Location, rel: string): string | undefined {
  const bytes = Buffer.byteLength(prefix.key + rel);
  if (bytes <= MAX_KEY_BYTES) return undefined;
  return (
    `its key would be ${bytes} bytes, more than the ${MAX_KEY_BYTES} a store allows: ` +
    'shorten its path in the run directory or the output prefix'
  );
}
