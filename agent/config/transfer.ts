import { parseSize, positiveInt, str, type ParsedArgs } from '../args.ts';
import { usageError } from '../errors.ts';

export interface TransferSettings {
  /** Files larger than SMALL_FILE uploaded or downloaded at once (--concurrency). */
  filesInFlight: number;
  /**
   * Small files (≤ SMALL_FILE) in flight at once, in a lane of their own (--small-concurrency): far
   * from the endpoint each costs a round trip, so many go at once. Memory: each holds a buffer of its
   * own size from the same pool (at most SMALL_FILE), so 64 hold at most 64 MiB of --memory.
   */
  smallInFlight: number;
  /** Parts of one file in flight at once. */
  partsPerFile: number;
  /** Multipart part size; files up to this size go in one PutObject. */
  partSize: number;
  /**
   * Memory bound: all transfer buffers together (parts and small files being sent) never hold
   * more than this many bytes (--memory, default 256 MiB). A request waits for its bytes.
   */
  memory: number;
}

/** Files up to this size take the small-file lane (one request each, a buffer of their own size). */
export const SMALL_FILE = 1024 * 1024;
// Measured: 2,000 files of 10 KB over 30 ms of round trip: 16 → 10.2 s, 32 → 9.5 s, 64 → 7.4 s,
// 128 → 7.3 s (scripts/bench wan). 64 gets nearly all of it with half the sockets of 128.
const DEFAULT_SMALL_IN_FLIGHT = 64;
const MIN_PART = 5 * 1024 ** 2;
const MAX_PART = 5 * 1024 ** 3;

export function transferSettings(p: ParsedArgs): TransferSettings {
  const c = str(p, 'concurrency');
  const pc = str(p, 'part-concurrency');
  const sc = str(p, 'small-concurrency');
  const ps = str(p, 'part-size');
  const partSize = ps === undefined ? 8 * 1024 * 1024 : parseSize(ps, '--part-size');
  if (partSize < MIN_PART || partSize > MAX_PART) {
    throw usageError(`--part-size must be from 5MiB to 5GiB (the S3 limits for multipart parts), got '${ps}'`);
  }
  const mem = str(p, 'memory');
  const memory = mem === undefined ? 256 * 1024 * 1024 : parseSize(mem, '--memory');
  if (memory < partSize) {
    throw usageError(
      `--memory (${mem ?? '256MiB'}) must be at least --part-size (${ps ?? '8MiB'})`,
      'raise --memory or lower --part-size',
    );
  }
  return Object.freeze({
    // 4 files × 4 parts (rclone's defaults): on the benchmark server 16 requests in flight beat 32
    // (6.2 s vs 6.3–9.1 s for 1 GiB) and kept RSS at ~240 MiB; raise them for fast, distant links.
    filesInFlight: c === undefined ? 4 : positiveInt(c, '--concurrency', 1000),
    smallInFlight: sc === undefined ? DEFAULT_SMALL_IN_FLIGHT : positiveInt(sc, '--small-concurrency', 1000),
    partsPerFile: pc === undefined ? 4 : positiveInt(pc, '--part-concurrency', 1000),
    partSize,
    memory,
  });
}
