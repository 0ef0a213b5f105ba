import { under, type Location } from '../location.ts';
import { RUN_LOG_OBJECT } from '../names.ts';
import type { Call, Store } from '../store/store.ts';

/** Bytes read from the end of an uploaded ferry.log, and lines kept of them. */
export const TAIL_BYTES = 16 * 1024;
export const TAIL_LINES = 25;

/**
 * The last lines of the run log a row uploaded (`<output>_ferry.log`), or undefined when it has
 * none: one ranged read of its last TAIL_BYTES, so a long log costs no more than a short one.
 */
export async function readLogTail(store: Store, prefix: Location, call: Call): Promise<string[] | undefined> {
  const loc = under(prefix, RUN_LOG_OBJECT);
  const info = (await store.list(loc, call)).find((o) => o.key === loc.key);
  if (!info) return undefined;
  const start = Math.max(0, info.size - TAIL_BYTES);
  const chunks: Buffer[] = [];
  if (info.size > start)
    await store.read(loc, info.etag, [start, info.size], { ...call, what: 'reading the run log' }, (c) => {
      chunks.push(Buffer.from(c));
    });
  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  if (start > 0) lines.shift(); // cut mid-line
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-TAIL_LINES);
}
