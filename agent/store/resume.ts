import { backOff } from '../backoff.ts';
import { formatUri, type Location } from '../location.ts';
import { TransferError } from '../net/failures.ts';

/** A response body as both stores' SDKs hand it out: chunks, and a way to let the socket go. */
export type Body = AsyncIterable<Buffer> & { destroy(): void };

/**
 * Streams bytes [start, end) of `u` to `onChunk` (with each chunk's offset). `open(pos)` asks the
 * store for bytes [pos, end) (with If-Match on the ETag, so that a replaced object cannot mix in);
 * the store's SDK retries a request that fails before its answer. A body that breaks off or stalls
 * afterwards (the idle timeout destroys a silent one) is asked for again from the first byte not yet
 * received, up to `attempts` times: one resume policy for every store.
 */
export async function readResuming(
  u: Location,
  [start, end]: [number, number],
  o: { attempts: number; signal?: AbortSignal },
  open: (pos: number) => Promise<Body>,
  onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
): Promise<void> {
  let pos = start;
  for (let attempt = 1; ; attempt++) {
    const body = await open(pos);
    let cause: unknown;
    let handler = false; // the failure is the chunk's handler's (a local write, a refused entry): no resume
    try {
      for await (const chunk of body) {
        if (pos + chunk.length > end)
          throw new TransferError(
            'overrun',
            `the server sent more bytes than asked for (range ${start}-${end - 1} of ${formatUri(u)})`,
          );
        handler = true;
        await onChunk(chunk, pos);
        handler = false;
        pos += chunk.length;
      }
    } catch (err) {
      // Not the body's: asking the server again would only fail the same way, and say "network".
      if (handler && !o.signal?.aborted) throw err;
      // Stopped: the body broke off because the request was aborted (ECONNRESET "aborted"): say the stop,
      // not a network failure (a SIGTERM mid-download ended as 69 "did not answer after retries").
      if (o.signal?.aborted) throw o.signal.reason ?? err;
      if (err instanceof TransferError) throw err;
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
    await backOff(attempt, o.signal);
  }
}
