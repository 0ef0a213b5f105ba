import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { formatUri, type Location } from '../location.ts';
import { TransferError } from './errors.ts';

/**
 * Streams bytes [start, end) of an object to `onChunk` (with each chunk's offset). The SDK retries
 * a request that fails before its answer; a body that breaks off or stalls afterwards (the client's
 * socket timeout destroys a silent one) is asked for again from the first byte not yet received,
 * up to `attempts` times, with If-Match on the ETag so that a replaced object cannot mix in.
 */
export async function readRange(
  client: S3Client,
  u: Location,
  etag: string,
  [start, end]: [number, number],
  o: { attempts: number; signal?: AbortSignal },
  onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
): Promise<void> {
  let pos = start;
  for (let attempt = 1; ; attempt++) {
    const res = await client.send(
      new GetObjectCommand({
        Bucket: u.bucket,
        Key: u.key,
        Range: `bytes=${pos}-${end - 1}`,
        IfMatch: etag ? `"${etag}"` : undefined,
      }),
      { abortSignal: o.signal },
    );
    const body = res.Body as Readable;
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
