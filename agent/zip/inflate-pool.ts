// Worker threads that read, inflate, check and write small zip entries with synchronous calls:
// one thread per core, each with its own small heap. Measured on the bench archive (2,000 entries
// of 128 KiB): doing this on the main thread with async fs and zlib spent ~25% of all CPU in
// V8's concurrent marking (every inflated Buffer counts against the main heap's external memory,
// and the main heap holds the whole SDK) plus a thread-pool hop per call.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface InflateJob {
  /** The archive file (may still be arriving; the caller waits until [lho, limit) is on disk). */
  file: string;
  lho: number;
  /** Bytes [lho, readEnd) are read: the local header and the data (readEnd ≤ limit). */
  readEnd: number;
  /** No byte of the entry may lie at or past this offset. */
  limit: number;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  target: string;
}

/** `refuse`: the entry is bad (a reason in words); `io`: a local I/O error (errno fields). */
export type InflateResult =
  | { ok: true }
  | { ok: false; refuse: string }
  | { ok: false; io: { code: string; syscall?: string; path?: string; message: string } };

/** The worker's body. Runs in a worker thread from its source text: no imports, only require. */
function workerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { parentPort } = require('node:worker_threads');
  const fs = require('node:fs');
  const zlib = require('node:zlib');
  const fds = new Map<string, number>();
  let buf = Buffer.allocUnsafe(1 << 20);
  const LOCAL_SIG = 0x04034b50;
  // Inflated entries are fresh Buffers; V8 frees them only when it collects, and it lets up to
  // ~64 MiB of them pile up per thread first. A full collection of this small heap every
  // COLLECT_EVERY bytes costs ~1 ms and keeps each worker near its baseline (as jest does it).
  require('v8').setFlagsFromString('--expose-gc');
  const collect: () => void = require('vm').runInNewContext('gc');
  const COLLECT_EVERY = 16 * 1024 * 1024;
  let sinceCollect = 0;

  function writeOut(target: string, data: Buffer): void {
    let fd: number;
    try {
      fd = fs.openSync(target, 'wx'); // never through a link planted at the name
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      // A file of that name is there already (a re-run): replace it through a temp name.
      const tmp = `${target}.ferry-part`;
      fs.rmSync(tmp, { force: true });
      try {
        fs.writeFileSync(tmp, data, { flag: 'wx' });
        fs.renameSync(tmp, target);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw e;
      }
      return;
    }
    try {
      let off = 0;
      while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
      fs.closeSync(fd);
    } catch (err) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
      fs.rmSync(target, { force: true }); // nothing partial is left under the real name
      throw err;
    }
  }

  function one(job: InflateJob): InflateResult {
    let fd = fds.get(job.file);
    if (fd === undefined) {
      fd = fs.openSync(job.file, 'r') as number;
      fds.set(job.file, fd);
    }
    const span = job.readEnd - job.lho;
    if (buf.length < span) buf = Buffer.allocUnsafe(span);
    const got = fs.readSync(fd, buf, 0, span, job.lho) as number;
    if (got < 30 || buf.readUInt32LE(0) !== LOCAL_SIG) return { ok: false, refuse: 'has no local header where the central directory points (corrupt archive)' };
    const start = 30 + buf.readUInt16LE(26) + buf.readUInt16LE(28);
    const end = start + job.compressedSize;
    if (job.lho + end > job.limit) return { ok: false, refuse: 'overlaps the next entry or the central directory (a zip bomb or a corrupt archive)' };
    if (end > got) return { ok: false, refuse: 'is cut short: the archive is truncated' };
    const raw = buf.subarray(start, end);
    let data: Buffer;
    if (job.method === 0) data = raw;
    else {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: job.size + 1, chunkSize: Math.max(64 * 1024, job.size + 1) });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, refuse: `inflates to more than the ${job.size} bytes its header declares` };
        return { ok: false, refuse: `cannot be inflated: ${(err as Error).message}` };
      }
    }
    if (data.length !== job.size) return { ok: false, refuse: `holds ${data.length} bytes, its header declares ${job.size}` };
    if (zlib.crc32(data) >>> 0 !== job.crc32 >>> 0) return { ok: false, refuse: 'fails its CRC-32 check (corrupt data)' };
    writeOut(job.target, data);
    sinceCollect += data.length;
    if (sinceCollect >= COLLECT_EVERY) {
      sinceCollect = 0;
      collect();
    }
    return { ok: true };
  }

  parentPort.on('message', (msg: { id: number; job: InflateJob }) => {
    let result: InflateResult;
    try {
      result = one(msg.job);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      result = { ok: false, io: { code: e.code ?? 'EIO', syscall: e.syscall, path: e.path, message: e.message } };
    }
    parentPort.postMessage({ id: msg.id, result });
  });
}

// esbuild (tsx, and the bundle) may wrap named functions in __name(); the worker has no such helper.
const SOURCE = `var __name = (f) => f;\n(${workerMain.toString()})();`;

/**
 * A pool of `size` inflate workers (default: one per core), each running one job at a time.
 * Jobs queue in order; `close()` ends the threads. Memory: each worker holds one entry (at most
 * the in-memory limit of the caller) plus its compressed bytes at a time.
 */
export class InflatePool {
  /** The bytes an entry's read covers: its local header (names and extras up to 64 KiB each) and data. */
  static readEnd(lho: number, compressedSize: number, limit: number): number {
    return Math.min(limit, lho + 30 + 0x1ffff + compressedSize);
  }

  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ job: InflateJob; done: (r: InflateResult) => void; fail: (e: Error) => void }> = [];
  private readonly waiting = new Map<number, { done: (r: InflateResult) => void; fail: (e: Error) => void }>();
  private nextId = 0;
  private broken: Error | undefined;
  private closing = false;

  constructor(size = availableParallelism()) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const w = new Worker(SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 64 } });
      w.on('message', (m: { id: number; result: InflateResult }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        p?.done(m.result);
        this.dispatch(w);
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`an inflate worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run(job: InflateJob): Promise<InflateResult> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((done, fail) => {
      this.queue.push({ job, done, fail });
      const w = this.idle.pop();
      if (w) this.dispatch(w);
    });
  }

  /** Ends the threads (and with them their handles on the archive). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Gives `w` (not in `idle`) the next job, or puts it back in `idle`. */
  private dispatch(w: Worker): void {
    const next = this.queue.shift();
    if (!next) {
      this.idle.push(w);
      return;
    }
    const id = this.nextId++;
    this.waiting.set(id, { done: next.done, fail: next.fail });
    w.postMessage({ id, job: next.job });
  }

  private fail(err: Error): void {
    this.broken ??= err;
    for (const p of this.waiting.values()) p.fail(err);
    this.waiting.clear();
    for (const q of this.queue.splice(0)) q.fail(err);
  }
}
