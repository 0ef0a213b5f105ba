import type { BlobClient } from '@azure/storage-blob';
import type { Location } from '../location.ts';
import { readResuming, type Body } from '../store/resume.ts';

/**
 * Streams bytes [start, end) of a blob to `onChunk` (with each chunk's offset), as the S3 store
 * does: a ranged download with If-Match on the ETag, resumed from the first byte not yet received
 * when its body breaks off or stalls, up to `attempts` times. The SDK's own body retries are off
 * (maxRetryRequests 0): one resume policy, ferry's.
 */
export function readBlobRange(
  blob: BlobClient,
  u: Location,
  etag: string,
  range: [number, number],
  o: { attempts: number; signal?: AbortSignal },
  onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
): Promise<void> {
  const open = async (pos: number) => {
    const res = await blob.download(pos, range[1] - pos, {
      abortSignal: o.signal,
      maxRetryRequests: 0,
      conditions: etag ? { ifMatch: `"${etag}"` } : undefined,
    });
    return res.readableStreamBody as unknown as Body;
  };
  return readResuming(u, range, o, open, onChunk);
}
