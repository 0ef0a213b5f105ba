import { usageError } from './errors.ts';

/** The stores ferry speaks, by URI scheme: S3 (and S3-compatible servers), Azure Blob Storage. */
export type Scheme = 's3' | 'az';

/**
 * A place in a store: `s3://bucket/key` or `az://account/container/key`. `key` is '' for the bucket
 * root; a prefix ends with '/'. Phases and commands speak Locations; only a store's own folder knows
 * what a bucket is made of (on Azure `bucket` is `ACCOUNT/CONTAINER`).
 */
export interface Location {
  scheme: Scheme;
  bucket: string;
  key: string;
  /** A credential the URI carried (an Azure SAS after `?`): sent with requests, never printed. */
  token?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$/;
const ACCOUNT = /^[a-z0-9]{3,24}$/;
const CONTAINER = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const AZURE_HOST = /^https:\/\/([^./]+)\.blob\.core\.windows\.net(?:\/([^/?]*)(?:\/([^?]*))?)?\/?(?:\?(.*))?$/i;

/** The URI of a location, without its token: `formatUri(parseUri(formatUri(u)))` is `formatUri(u)`. */
export function formatUri(u: Location): string {
  return `${u.scheme}://${u.bucket}/${u.key}`;
}

export function isPrefix(u: Location): boolean {
  return u.key === '' || u.key.endsWith('/');
}

/** The text of a URI for messages: a query (an Azure SAS) is never shown. */
export function redactUri(text: string): string {
  const q = text.indexOf('?');
  return q < 0 ? text : `${text.slice(0, q)}?***`;
}

const USAGE_HINT =
  'write it as s3://BUCKET/KEY (an object) or s3://BUCKET/PREFIX/ (a folder); for Azure Blob ' +
  'az://ACCOUNT/CONTAINER/PATH or https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH';

/**
 * Parses `s3://bucket/key`, `az://account/container/key` or
 * `https://account.blob.core.windows.net/container/key` (the two Azure forms are the same Location;
 * a SAS after `?` becomes its token). `what` names the flag or variable the text came from, so the
 * error can say where to fix it.
 */
export function parseUri(text: string, what: string): Location {
  const t = text.trim();
  const s3 = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(t);
  if (s3) return checked(what, t, { scheme: 's3', bucket: s3[1], key: s3[2] ?? '' });
  const az = /^az:\/\/([^/?]+)(?:\/([^/?]*)(?:\/([^?]*))?)?\/?(?:\?(.*))?$/i.exec(t);
  const https = az ? undefined : AZURE_HOST.exec(t);
  const m = az ?? https;
  if (!m) throw usageError(`${what} is not an s3:// or az:// URI: '${redactUri(text)}'`, USAGE_HINT);
  const decode = (p: string) => (https ? decodeURIComponent(p) : p);
  const [account, container, key] = [m[1].toLowerCase(), m[2] ?? '', decode(m[3] ?? '')];
  if (!container)
    throw usageError(`${what} names no container: '${redactUri(text)}'`, 'write it as az://ACCOUNT/CONTAINER/PATH');
  if (!ACCOUNT.test(account))
    throw usageError(
      `${what} names an invalid storage account '${account}'`,
      'storage account names are 3-24 lowercase letters and digits',
    );
  if (!CONTAINER.test(container))
    throw usageError(
      `${what} names an invalid container '${container}'`,
      'container names are 3-63 lowercase letters, digits and single hyphens, starting with a letter or digit',
    );
  const token = m[4] ? m[4] : undefined;
  return checked(what, t, { scheme: 'az', bucket: `${account}/${container}`, key, ...(token ? { token } : {}) });
}

function checked(what: string, text: string, loc: Location): Location {
  if (loc.scheme === 's3' && !BUCKET.test(loc.bucket)) {
    throw usageError(
      `${what} names an invalid bucket '${loc.bucket}'`,
      'bucket names are 3-63 characters of lowercase letters, digits, dots, hyphens (and underscores on some servers)',
    );
  }
  if (loc.key.includes('//') || loc.key.startsWith('/')) {
    throw usageError(`${what} has an empty path segment: '${redactUri(text)}'`, 'remove the doubled slash');
  }
  return loc;
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
