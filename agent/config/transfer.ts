import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { usageError } from '../errors.ts';
import { count, size } from '../flags/flag.ts';
import type { FlagGroup } from '../flags/help.ts';
import type { Args } from '../flags/parse.ts';

export interface TransferSettings {
  /** Files larger than SMALL_FILE uploaded or downloaded at once (--concurrency). */
  filesInFlight: number;
  /** Small files (≤ SMALL_FILE) in flight at once, in a lane of their own (--small-concurrency). */
  smallInFlight: number;
  /** Parts of one file in flight at once. */
  partsPerFile: number;
  /** Multipart part size; files up to this size go in one PutObject. */
  partSize: number;
  /** Memory bound: all transfer buffers together never hold more than this many bytes (--memory). */
  memory: number;
  /** Set when the limit of open files made ferry put fewer files in flight than asked: says so (a warning). */
  descriptorNote?: string;
}

/** Files up to this size take the small-file lane (one request each, a buffer of their own size). */
export const SMALL_FILE = 1024 * 1024;
const MIN_PART = 5 * 1024 ** 2;
const MAX_PART = 5 * 1024 ** 3;

// 4 files × 4 parts (rclone's defaults): on the benchmark server 16 requests in flight beat 32
// (6.2 s vs 6.3–9.1 s for 1 GiB) and kept RSS at ~240 MiB; raise them for fast, distant links.
export const CONCURRENCY = count('concurrency', { dflt: 4, max: 1000, help: 'files over 1 MiB in flight' });
export const PART_CONCURRENCY = count('part-concurrency', { dflt: 4, max: 1000, help: 'parts of one file in flight' });
/**
 * Far from the endpoint each small file costs a round trip, so many go at once. Measured: 2,000 files
 * of 10 KB over 30 ms of round trip: 16 → 10.2 s, 32 → 9.5 s, 64 → 7.4 s, 128 → 7.3 s (scripts/bench
 * wan): 64 gets nearly all of it with half the sockets of 128. Memory: each holds a buffer of its own
 * size from the same pool (at most SMALL_FILE), so 64 hold at most 64 MiB of --memory.
 */
export const SMALL_CONCURRENCY = count('small-concurrency', {
  dflt: 64,
  max: 1000,
  help: 'files of 1 MiB or less in flight, in a lane of their own',
});
export const PART_SIZE = size('part-size', { dflt: '8MiB', help: 'multipart part size, min 5MiB' });
/**
 * The memory bound of every transfer: parts of --part-size come from a pool of reused buffers, small
 * files and grown parts get buffers of their own size from the same bound, and with bigger parts
 * fewer are in flight. A request waits for its bytes; nothing holds more than this.
 * 96 MiB: 12 parts of 8 MiB in flight (rclone's 4 × 4 parts of 5 MiB hold 80). Measured with the
 * binary on the 1 GiB mixed put, two runs each: 256 MiB (16 parts in flight, the bound never reached)
 * 5.3–5.5 s at 266–272 MiB RSS, 96 MiB 4.7–6.2 s at 242–249 MiB; on `bench row-many` the 16 parts of
 * the post files were ~130 MiB of its 313 MiB peak.
 */
export const MEMORY = size('memory', {
  dflt: '96MiB',
  help:
    'memory bound: all transfer buffers together hold at most this\n' +
    '(default 96MiB, or two parts of a bigger --part-size up to 256MiB;\nat least --part-size)',
});

export const TRANSFER_FLAGS: FlagGroup = {
  title: 'Transfer options (every store; a part is a block on Azure Blob)',
  flags: [CONCURRENCY, SMALL_CONCURRENCY, PART_CONCURRENCY, PART_SIZE, MEMORY],
};

export function transferSettings(p: Args): TransferSettings {
  const partSize = p.get(PART_SIZE);
  if (partSize < MIN_PART || partSize > MAX_PART) {
    throw usageError(
      `--part-size must be from 5MiB to 5GiB (the S3 limits for multipart parts), got '${p.typed(PART_SIZE)}'`,
    );
  }
  // Unset, the bound grows with a bigger --part-size (two parts, up to the 256 MiB of earlier
  // releases, or one part over that): a --part-size that worked before never needs --memory now.
  const memory = p.given(MEMORY) ? p.get(MEMORY) : Math.max(p.get(MEMORY), Math.min(2 * partSize, 256 << 20), partSize);
  if (memory < partSize) {
    throw usageError(
      `--memory (${p.typed(MEMORY)}) must be at least --part-size (${p.typed(PART_SIZE)})`,
      'raise --memory or lower --part-size',
    );
  }
  return fitDescriptors({
    filesInFlight: p.get(CONCURRENCY),
    smallInFlight: p.get(SMALL_CONCURRENCY),
    partsPerFile: p.get(PART_CONCURRENCY),
    partSize,
    memory,
  });
}

/** Descriptors ferry holds besides its transfers: stdio, its log, its event loop (~30), each inflate worker's loop. */
const DESCRIPTOR_RESERVE = 48 + 4 * availableParallelism();

/** The soft limit of open files (`ulimit -n`), from /proc; undefined when it cannot be read or is unlimited. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors transfers may hold at once: a socket per request in flight (and 4 more), a file per file in flight. */
export function descriptorsFor(t: Pick<TransferSettings, 'filesInFlight' | 'smallInFlight' | 'partsPerFile'>): number {
  return t.filesInFlight * (t.partsPerFile * 2 + 1) + t.smallInFlight * 2 + 4;
}

/**
 * Fewer files (and parts) in flight when the limit of open files cannot hold what is asked: parts per
 * file down to 2, small files down to 8, parts to 1, large files down to 2, then small files and
 * large files to 1. A run with `ulimit -n 100` then uploads slower instead of failing with EMFILE.
 */
export function fitDescriptors(t: TransferSettings, limit = openFilesLimit()): TransferSettings {
  if (limit === undefined || descriptorsFor(t) <= limit - DESCRIPTOR_RESERVE) return Object.freeze(t);
  const room = limit - DESCRIPTOR_RESERVE;
  const f = { ...t };
  const steps: Array<[() => boolean, () => void]> = [
    [() => f.partsPerFile > 2, () => f.partsPerFile--],
    [() => f.smallInFlight > 8, () => (f.smallInFlight = Math.max(8, Math.floor(f.smallInFlight / 2)))],
    [() => f.partsPerFile > 1, () => f.partsPerFile--],
    [() => f.filesInFlight > 2, () => f.filesInFlight--],
    [() => f.smallInFlight > 1, () => (f.smallInFlight = Math.floor(f.smallInFlight / 2))],
    [() => f.filesInFlight > 1, () => f.filesInFlight--],
  ];
  for (const [can, step] of steps) while (descriptorsFor(f) > room && can()) step();
  f.descriptorNote =
    `the limit of open files (ulimit -n) is ${limit}: ${f.smallInFlight} small file(s) and ${f.filesInFlight} ` +
    `large file(s) × ${f.partsPerFile} part(s) in flight instead of ${t.smallInFlight} and ${t.filesInFlight} × ` +
    `${t.partsPerFile}; raise it (ulimit -n 4096) for full speed`;
  return Object.freeze(f);
}
