// One inflate worker thread (see inflate-pool.ts): reads, inflates, checks and writes small zip
// entries with synchronous calls, on a small heap of its own. Loaded as a module from source, and
// bundled as its own entry for the single executable (scripts/build).
import { closeSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { crc32, inflateRawSync } from 'node:zlib';
import { checkInflated, dataSpan, REFUSE } from './entry-checks.ts';
import type { InflateJob, InflateResult } from './inflate-pool.ts';

const fds = new Map<string, number>();
let buf = Buffer.allocUnsafe(1 << 20);
// Inflated entries are fresh Buffers; V8 frees them only when it collects, and it lets up to
// ~64 MiB of them pile up per thread first. A full collection of this small heap every
// COLLECT_EVERY bytes costs ~1 ms and keeps each worker near its baseline (as jest does it).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const COLLECT_EVERY = 16 * 1024 * 1024;
let sinceCollect = 0;

/** Writes a checked entry under its name: never through a link planted there, never half-written. */
function writeOut(target: string, tmp: string, data: Buffer): void {
  let fd: number;
  try {
    fd = openSync(target, 'wx');
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
    // A file of that name is there already (a re-run): replace it through a temp name.
    rmSync(tmp, { force: true });
    try {
      writeFileSync(tmp, data, { flag: 'wx' });
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    return;
  }
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    closeSync(fd);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(target, { force: true }); // nothing partial is left under the real name
    throw err;
  }
}

function inflate(job: InflateJob, raw: Buffer): Buffer | string {
  if (job.method === 0) return raw;
  try {
    return inflateRawSync(raw, { maxOutputLength: job.size + 1, chunkSize: Math.max(64 * 1024, job.size + 1) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return REFUSE.inflatesPast(job.size);
    return REFUSE.cannotInflate((err as Error).message);
  }
}

function one(job: InflateJob): InflateResult {
  let fd = fds.get(job.file);
  if (fd === undefined) {
    fd = openSync(job.file, 'r');
    fds.set(job.file, fd);
  }
  const span = job.readEnd - job.lho;
  if (buf.length < span) buf = Buffer.allocUnsafe(span);
  const got = readSync(fd, buf, 0, span, job.lho);
  const where = dataSpan(buf.subarray(0, got), job.lho, job.compressedSize, job.limit);
  if (typeof where === 'string') return { ok: false, refuse: where };
  if (where.end - job.lho > got) return { ok: false, refuse: REFUSE.truncated };
  const data = inflate(job, buf.subarray(where.start - job.lho, where.end - job.lho));
  if (typeof data === 'string') return { ok: false, refuse: data };
  const bad = checkInflated(data.length, crc32(data), job);
  if (bad) return { ok: false, refuse: bad };
  writeOut(job.target, job.tmp, data);
  sinceCollect += data.length;
  if (sinceCollect >= COLLECT_EVERY) {
    sinceCollect = 0;
    collect();
  }
  return { ok: true };
}

parentPort?.on('message', (msg: { id: number; job: InflateJob }) => {
  let result: InflateResult;
  try {
    result = one(msg.job);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    result = { ok: false, io: { code: e.code ?? 'EIO', syscall: e.syscall, path: e.path, message: e.message } };
  }
  parentPort?.postMessage({ id: msg.id, result });
});
