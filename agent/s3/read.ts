import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Location } from '../location.ts';
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
