import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Location } from '../location.ts';
import type { Fetched } from '../store/store.ts';
import { bareEtag } from './etag.ts';
import { isNotFound } from './errors.ts';
import { readResuming, type Body } from '../store/resume.ts';

/**
 * Streams bytes [start, end) of an object to `onChunk` (with each chunk's offset): a ranged GET with
 * If-Match on the ETag, resumed from the first byte not yet received when its body breaks off or
 * stalls (the client's socket timeout destroys a silent one), up to `attempts` times.
 */
export function readRange(
  client: S3Client,
  u: Location,
  etag: string,
  range: [number, number],
  o: { attempts: number; signal?: AbortSignal },
  onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
): Promise<void> {
  const open = async (pos: number) => {
    const res = await client.send(
      new GetObjectCommand({
        Bucket: u.bucket,
        Key: u.key,
        Range: `bytes=${pos}-${range[1] - 1}`,
        IfMatch: etag ? `"${etag}"` : undefined,
      }),
      { abortSignal: o.signal },
    );
    return res.Body as unknown as Body;
  };
  return readResuming(u, range, o, open, onChunk);
}

/**
 * A small object read whole (the manifest, the lease), or undefined when there is none; with the
 * server's time of the answer when the client has learnt its clock (`offsetMs`).
 */
export async function fetchWhole(
  client: S3Client,
  loc: Location,
  signal: AbortSignal | undefined,
  clock?: { offsetMs?: number },
): Promise<Fetched | undefined> {
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), { abortSignal: signal });
    const body = Buffer.from(await r.Body!.transformToByteArray());
    const offset = clock?.offsetMs;
    const serverDate = offset === undefined ? undefined : new Date(Date.now() + offset);
    const etag = bareEtag(r.ETag);
    return {
      body,
      info: { key: loc.key, size: body.length, etag, digest: etag, modified: r.LastModified },
      serverDate,
    };
  } catch (err) {
    if (isNotFound(err) && (err as { name?: string }).name !== 'NoSuchBucket') return undefined;
    if ((err as { name?: string }).name === 'AccessDenied' && (await absent(client, loc, signal))) return undefined;
    throw err;
  }
}

/**
 * S3 answers a GET of a missing key 403, not 404, to credentials that may list the bucket only under
 * a prefix (ferry policy's s3:prefix condition): a listing from that key tells missing from denied
 * (the key itself sorts first among the keys it begins).
 */
async function absent(client: S3Client, loc: Location, signal?: AbortSignal): Promise<boolean> {
  try {
    const page = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.key, MaxKeys: 1 }), {
      abortSignal: signal,
    });
    return page.Contents?.[0]?.Key !== loc.key;
  } catch {
    return false;
  }
}
