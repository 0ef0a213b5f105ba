import { usageError } from './errors.ts';

/** The stores ferry speaks, by URI scheme. */
export type Scheme = 's3';

/**
 * A place in a store: `s3://bucket/key`. `key` is '' for the bucket root; a prefix ends with '/'.
 * Phases and commands speak Locations; only a store's own folder knows what a bucket is made of.
 */
export interface Location {
  scheme: Scheme;
  bucket: string;
  key: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$/;

export function formatUri(u: Location): string {
  return `${u.scheme}://${u.bucket}/${u.key}`;
}

export function isPrefix(u: Location): boolean {
  return u.key === '' || u.key.endsWith('/');
}

/**
 * Parses `s3://bucket/key`. `what` names the flag or variable the text came from, so the error can
 * say where to fix it.
 */
export function parseUri(text: string, what: string): Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(text.trim());
  if (!m) {
    throw usageError(
      `${what} is not an s3:// URI: '${text}'`,
      `write it as s3://BUCKET/KEY (an object) or s3://BUCKET/PREFIX/ (a folder)`,
    );
  }
  const bucket = m[1];
  const key = m[2] ?? '';
  if (!BUCKET.test(bucket)) {
    throw usageError(
      `${what} names an invalid bucket '${bucket}'`,
      'bucket names are 3-63 characters of lowercase letters, digits, dots, hyphens (and underscores on some servers)',
    );
  }
  if (key.includes('//') || key.startsWith('/')) {
    throw usageError(`${what} has an empty path segment: '${text}'`, 'remove the doubled slash');
  }
  return { scheme: 's3', bucket, key };
}

/** An output location is always a prefix: `s3://b/out/hsdi` means `s3://b/out/hsdi/`. */
export function asPrefix(u: Location): Location {
  return isPrefix(u) ? u : { ...u, key: `${u.key}/` };
}

/** The location a local relative path (with '/' separators) lands at under a prefix. */
export function under(prefix: Location, relPath: string): Location {
  return { ...prefix, key: prefix.key + relPath };
}

/** The same store, bucket and key: the object a key of a listing names. */
export function withKey(u: Location, key: string): Location {
  return { ...u, key };
}

/**
 * True when two locations share keys: the same store and bucket, and one key starts with the other
 * (an output prefix equal to, inside, or containing an input prefix or object). The root holds all.
 */
export function overlaps(a: Location, b: Location): boolean {
  return a.scheme === b.scheme && a.bucket === b.bucket && (a.key.startsWith(b.key) || b.key.startsWith(a.key));
}
