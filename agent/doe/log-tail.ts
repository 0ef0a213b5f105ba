import { DETAIL_MARK, untimed } from '../log.ts';
import { HEARTBEAT } from '../transfer/heartbeat.ts';
import { under, type Location } from '../location.ts';
import { RUN_LOG_OBJECT } from '../names.ts';
import { ObjectChanged } from '../store/changed.ts';
import type { Call, Store } from '../store/store.ts';

/** Bytes of an uploaded ferry.log read at a time from its end, at most TAIL_MAX in all. */
export const TAIL_BYTES = 16 * 1024;
export const TAIL_MAX = 1024 * 1024;
/** Lines kept: the solver's last lines and ferry's own, without its per-file detail lines. */
export const TAIL_LINES = 25;

// Lines carry the time (a log an older ferry uploaded does not): the marks follow it.
const shown = (line: string) => !untimed(line).startsWith(DETAIL_MARK);
const beat = (line: string) => untimed(line).startsWith(`ferry: ${HEARTBEAT}`);

/** Times the log is read again when a running row replaced it meanwhile (it does so with each heartbeat). */
const REREADS = 3;

/**
 * Reads the log backwards in ranged reads of TAIL_BYTES until `enough` says so, TAIL_MAX bytes at
 * most. A running row uploads its log anew with each heartbeat: a read pinned to the listed ETag
 * then fails (ObjectChanged), and the new log is read from its end again, REREADS times at most.
 */
async function readBack(store: Store, prefix: Location, call: Call, enough: (lines: string[]) => boolean) {
  for (let n = 1; ; n++) {
    try {
      return await readBackOnce(store, prefix, call, enough);
    } catch (err) {
      if (!(err instanceof ObjectChanged) || n > REREADS) throw err;
    }
  }
}

async function readBackOnce(store: Store, prefix: Location, call: Call, enough: (lines: string[]) => boolean) {
  const loc = under(prefix, RUN_LOG_OBJECT);
  const info = (await store.list(loc, call)).find((o) => o.key === loc.key);
  if (!info) return undefined;
  let text = Buffer.alloc(0);
  let lines: string[] = [];
  for (let end = info.size; end > 0 && info.size - end < TAIL_MAX;) {
    const start = Math.max(0, end - TAIL_BYTES);
    const chunks: Buffer[] = [];
    await store.read(loc, info.etag, [start, end], { ...call, what: 'reading the run log' }, (c) => {
      chunks.push(Buffer.from(c));
    });
    text = Buffer.concat([...chunks, text]);
    end = start;
    lines = text.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // cut mid-line (or mid-character)
    if (enough(lines)) break;
  }
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * The last lines of the run log a row uploaded (`<output>_ferry.log`), or undefined when it has
 * none. Per-file detail lines (one per output) are left out, so a run with many outputs still shows
 * how its solver ended: the log is read backwards in ranged reads of TAIL_BYTES until TAIL_LINES
 * lines are found (or TAIL_MAX bytes were read), whatever the log's size.
 */
export async function readLogTail(store: Store, prefix: Location, call: Call): Promise<string[] | undefined> {
  const lines = await readBack(store, prefix, call, (l) => l.filter(shown).length > TAIL_LINES);
  return lines?.filter(shown).slice(-TAIL_LINES);
}

/**
 * How a running row stands, from the log it uploaded so far (a run uploads it with each heartbeat):
 * its last heartbeat line, else its last line; undefined without a log.
 */
export async function readProgress(store: Store, prefix: Location, call: Call): Promise<string | undefined> {
  const lines = await readBack(store, prefix, call, (l) => l.some(beat));
  return lines?.filter(beat).at(-1) ?? lines?.filter(shown).at(-1);
}
