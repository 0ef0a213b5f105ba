import type { BlobClient } from '@azure/storage-blob';
import { formatUri, type Location } from '../location.ts';
import { TransferError } from '../net/failures.ts';

/**
 * Streams bytes [start, end) of a blob to `onChunk` (with each chunk's offset), as the S3 store
 * does: the SDK retries a request that fails before its answer; a body that breaks off or stalls
 * afterwards (the idle timeout destroys a silent one) is asked for again from the first byte not yet
 * received, up to `attempts` times, with If-Match on the ETag so that a replaced blob cannot mix in.
 * The SDK's own body retries are off (maxRetryRequests 0): one resume policy, ferry's.
 */
export async function readBlobRange(
  blob: BlobClient,
  u: Location,
  etag: string,
  [start, end]: [number, number],
  o: { attempts: number; signal?: AbortSignal },
  onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
): Promise<void> {
  let pos = start;
  for (let attempt = 1; ; attempt++) {
    const res = await blob.download(pos, end - pos, {
      abortSignal: o.signal,
      maxRetryRequests: 0,
      conditions: etag ? { ifMatch: `"${etag}"` } : undefined,
    });
    const body = res.readableStreamBody as NodeJS.ReadableStream & { destroy(): void };
    let cause: unknown;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (pos + chunk.length > end)
          throw new TransferError(
            'overrun',
            `the server sent more bytes than asked for (range ${start}-${end - 1} of ${formatUri(u)})`,
          );
        await onChunk(chunk, pos);
        pos += chunk.length;
      }
    } catch (err) {
      if (err instanceof TransferError || o.signal?.aborted) throw err;
      cause = err;
    } finally {
      body.destroy();
    }
    if (pos === end) return;
    if (attempt >= o.attempts) {
      const why = cause ? `broke off (${(cause as Error).message})` : 'ended early';
      throw new TransferError(
        'broken',
        `the body of range ${start}-${end - 1} of ${formatUri(u)} ${why} at byte ${pos}, ${attempt} time(s)`,
        cause,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt * (0.5 + Math.random()))));
  }
}
