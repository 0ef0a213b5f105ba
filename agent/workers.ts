// The one worker pool: `width` workers pull the next index from one counter (lib-storage's shape:
// back-pressure for free, no queue to hold). Parts of an upload, ranges of a download and the files of a
// tree all go through it.
import { settleAll } from './settle.ts';
import { linked } from './signals.ts';

export interface EachOptions {
  /** The caller's signal: once aborted, no worker takes another index. */
  signal?: AbortSignal;
  /**
   * The first failure stops the others (their signal aborts, no new index is taken) and is what
   * rethrows, not the AbortErrors it caused. Without it every index is worked and the first failure
   * is rethrown at the end.
   */
  stopOnError?: boolean;
}

/**
 * Runs `work(i, signal)` for i = 0 … count-1, at most `width` at once. Resolves once every worker has
 * returned (nothing still runs when the caller goes on: a file handle can be closed), or rejects with
 * the first failure.
 */
export async function eachIndex(
  count: number,
  width: number,
  work: (i: number, signal: AbortSignal) => Promise<void>,
  o: EachOptions = {},
): Promise<void> {
  const stop = new AbortController();
  const signal = linked(o.signal, stop.signal);
  let next = 0;
  const worker = async () => {
    while (next < count && !signal.aborted) {
      const i = next++;
      await work(i, signal).catch((err) => {
        if (o.stopOnError && !stop.signal.aborted) stop.abort(err);
        throw err;
      });
    }
  };
  const workers = Array.from({ length: Math.max(0, Math.min(width, count)) }, () =>
    o.stopOnError ? worker() : keepGoing(worker),
  );
  await settleAll(workers).catch((err) => {
    throw (stop.signal.aborted ? stop.signal.reason : undefined) ?? err;
  });
  o.signal?.throwIfAborted();
}

/** A worker that goes on after a failure and rethrows the first one when it is out of work. */
async function keepGoing(worker: () => Promise<void>): Promise<void> {
  let first: unknown;
  let failed = false;
  for (;;) {
    try {
      await worker();
      break;
    } catch (err) {
      if (!failed) first = err;
      failed = true;
    }
  }
  if (failed) throw first;
}
