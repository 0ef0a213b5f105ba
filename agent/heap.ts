// V8 lets its old generation grow to a multiple of what is live before it collects: with one
// request per file, a tree of 100,000 outputs left ~8 KB of garbage per file in the peak RSS
// (measured, Node 24.21) while ~0.7 KB a file was live. A full collection when the heap has grown by
// GROWTH since the last one keeps RSS near what is live; each costs a few tens of ms, every few
// thousand files. Node has no flag for the growing factor; --expose-gc is set at run time, as the
// inflate workers do (the single executable ignores NODE_OPTIONS).
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadNative } from './native/index.ts';

/**
 * Collect once the heap holds this much more than after the last collection. 24 MiB (was 48): on
 * `bench row-many` the heap's committed size ran 60–80 MiB above the ~40 MiB live at the peak.
 */
const GROWTH = 24 * 1024 * 1024;
/** Look at the heap every this many calls (a cheap counter otherwise). */
const EVERY = 256;

/**
 * Buffers dropped since the last collection that may be collected (ByteBudget says): V8 counts them
 * as external memory and waits for far more of them than GROWTH before it collects — measured with
 * `ferry put` of the mixed tree at --memory 32MiB: 137 MiB of ArrayBuffers at the peak, RSS 228 MiB.
 * 16 MiB: when small files push idle part slots out and parts want them back, 8 MiB slots churn, and
 * on `bench row-many` ArrayBuffers stood ~30 MiB above the 96 MiB bound with 32.
 */
export const GARBAGE = 16 * 1024 * 1024;

let collect: (() => void) | undefined;
let calls = 0;
let afterLast = 0;
let dropped = 0;
/** Collections made so far (tests read it). */
export let collections = 0;

function collectNow(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
  collections++;
  dropped = 0;
  afterLast = getHeapStatistics().used_heap_size;
  returnFreePages();
}

/**
 * Hands the free pages inside malloc's arenas back to the system (malloc_trim through the native
 * addon; nothing where it did not load). glibc keeps them: measured on the bench row (206 MiB input,
 * 2,001 entries inflated by worker threads), RSS stayed at 227 MiB after the input was in place and
 * every buffer of it was freed, and fell to 134 MiB once trimmed. Called after each collection (it
 * frees the dropped buffers) and by the run once its input is in place.
 */
export function returnFreePages(): void {
  const n = loadNative();
  if (!n.ok) return;
  n.native.trimMemory();
}

/** `bytes` of buffers were dropped (the byte budget's own-size buffers, idle slots it let go). */
export function noteDropped(bytes: number): void {
  dropped += bytes;
  if (dropped >= GARBAGE) collectNow();
}

/** Called once per file transferred: now and then, collects if the heap has grown by GROWTH. */
export function tidyHeap(): void {
  if (++calls % EVERY === 0) checkHeap();
}

/**
 * Collects now if the heap has grown by GROWTH since the last collection. For work that makes much
 * garbage in few steps: each page of a listing (1,000 keys parsed from XML), a manifest read back.
 * Measured on `bench row-many`: the read-back of a complete row of 20,000 outputs (its manifest and
 * 20 pages of listing) raised the peak RSS by ~35 MiB before this.
 */
export function checkHeap(): void {
  if (getHeapStatistics().used_heap_size - afterLast >= GROWTH) collectNow();
}
