import { usageError } from './errors.ts';

/** An s3:// location. `key` is '' for the bucket root; a prefix ends with '/'. */
export interface S3Uri {
  bucket: string;
  key: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$/;

export function formatUri(u: S3Uri): string {
  return `s3://${u.bucket}/${u.key}`;
}

export function isPrefix(u: S3Uri): boolean {
  return u.key === '' || u.key.endsWith('/');
}

/**
 * Parses `s3://bucket/key`. `what` names the flag or variable the text came from, so the error can
 * say where to fix it.
 */
export function parseS3Uri(text: string, what: string): S3Uri {
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
  return { bucket, key };
}

/** An output location is always a prefix: `s3://b/out/hsdi` means `s3://b/out/hsdi/`. */
export function asPrefix(u: S3Uri): S3Uri {
  return isPrefix(u) ? u : { bucket: u.bucket, key: `${u.key}/` };
}

/** The key a local relative path (with '/' separators) lands at under a prefix. */
export function keyUnder(prefix: S3Uri, relPath: string): string {
  return prefix.key + relPath;
}

/**
 * True when two locations share keys: the same bucket, and one key starts with the other (an output
 * prefix equal to, inside, or containing an input prefix or object). The bucket root holds all.
 */
export function overlaps(a: S3Uri, b: S3Uri): boolean {
  return a.bucket === b.bucket && (a.key.startsWith(b.key) || b.key.startsWith(a.key));
}
