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
 * An S3 https URL as the console and the docs show them, virtual-hosted
 * (`https://BUCKET.s3[.REGION].amazonaws.com/KEY`) or path style (`https://s3[.REGION].amazonaws.com/
 * BUCKET/KEY`), legacy `s3-REGION` and dualstack hosts too: the same place as `s3://BUCKET/KEY`.
 * Undefined for any other URL.
 */
function s3FromHttps(text: string, what: string): Location | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const host = url.hostname.toLowerCase();
  if (!/^https?:$/.test(url.protocol) || !/\.amazonaws\.com(\.cn)?$/.test(host)) return undefined;
  const labels = host.split('.');
  let at = labels.length - 1;
  while (at >= 0 && !/^s3(-[a-z0-9-]+)?$/.test(labels[at])) at--;
  if (at < 0) return undefined;
  if (url.search)
    throw usageError(
      `${what} is a pre-signed URL: '${redactUri(text)}'`,
      'ferry signs its own requests: give the object as s3://BUCKET/KEY and the credentials with --aws-config',
    );
  let path: string;
  try {
    path = decodeURIComponent(url.pathname.slice(1));
  } catch {
    throw usageError(`${what} has a broken %-escape: '${redactUri(text)}'`, USAGE_HINT);
  }
  if (at > 0) return checked(what, text, { scheme: 's3', bucket: labels.slice(0, at).join('.'), key: path });
  const [bucket, ...key] = path.split('/');
  if (!bucket) throw usageError(`${what} names no bucket: '${redactUri(text)}'`, USAGE_HINT);
  return checked(what, text, { scheme: 's3', bucket, key: key.join('/') });
}

/**
 * Parses `s3://bucket/key` (or an S3 https URL: s3FromHttps), `az://account/container/key` or
 * `https://account.blob.core.windows.net/container/key` (the two Azure forms are the same Location;
 * a SAS after `?` becomes its token). `what` names the flag or variable the text came from, so the
 * error can say where to fix it.
 */
export function parseUri(text: string, what: string): Location {
  const t = text.trim();
  const s3 = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(t);
  if (s3) return checked(what, t, { scheme: 's3', bucket: s3[1], key: s3[2] ?? '' });
  const s3Https = s3FromHttps(t, what);
  if (s3Https) return s3Https;
  const az = /^az:\/\/([^/?]+)(?:\/([^/?]*)(?:\/([^?]*))?)?\/?(?:\?(.*))?$/i.exec(t);
  const https = az ? undefined : AZURE_HOST.exec(t);
  const m = az ?? https;
  if (!m) throw usageError(`${what} is not an s3:// or az:// URI: '${redactUri(text)}'`, hintFor(t));
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

/** The hint for a URI ferry cannot read: an https URL of a custom S3 endpoint gets the s3:// form. */
function hintFor(text: string): string {
  const m = /^https?:\/\/([^/]+)\/([^/?]+)(?:\/([^?]*))?$/i.exec(text);
  if (!m) return USAGE_HINT;
  return (
    `for an S3-compatible server write s3://${m[2]}/${m[3] ?? ''} and pass the server with ` +
    `--endpoint ${text.slice(0, text.indexOf('/', 8))}; ${USAGE_HINT}`
  );
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
