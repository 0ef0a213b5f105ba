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
  /** The temp name to write through when a file is at `target` already. */
  tmp: string;
}

/** `refuse`: the entry is bad (a reason in words); `io`: a local I/O error (errno fields). */
export type InflateResult =
  | { ok: true }
  | { ok: false; refuse: string }
  | { ok: false; io: { code: string; syscall?: string; path?: string; message: string } };

/** Set by the single-executable build: the inflate worker, bundled as its own entry (its source). */
declare const FERRY_INFLATE_WORKER: string | undefined;

/** One worker: from the bundled source in the single executable, else the module itself (through tsx). */
function startWorker(): Worker {
  const resourceLimits = { maxOldGenerationSizeMb: 64 };
  if (typeof FERRY_INFLATE_WORKER === 'string') return new Worker(FERRY_INFLATE_WORKER, { eval: true, resourceLimits });
  // From source: the worker registers tsx for itself, then loads the module.
  const tsx = new URL('../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href;
  const worker = new URL('./inflate-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => t.register()).then(() => import(${JSON.stringify(worker)}))`;
  return new Worker(boot, { eval: true, resourceLimits });
}

/**
 * Jobs sent ahead to each worker: it takes the next from its own queue as it finishes one, without
 * waiting for the main thread (busy with the download's sockets) to hear of it and send another.
 * Measured on the bench row with one at a time: the workers idled 60–80% of the download and did
 * most of the inflating after its last byte. A queued job is a few hundred bytes.
 */
export const JOBS_AHEAD = 8;

/**
 * A pool of `size` inflate workers (default: one per core), each running one job at a time, with
 * up to JOBS_AHEAD more queued in it. Jobs queue in order; `close()` ends the threads. Memory: each
 * worker holds one entry (at most the in-memory limit of the caller) plus its compressed bytes at a time.
 */
export class InflatePool {
  /** The bytes an entry's read covers: its local header (names and extras up to 64 KiB each) and data. */
  static readEnd(lho: number, compressedSize: number, limit: number): number {
    return Math.min(limit, lho + 30 + 0x1ffff + compressedSize);
  }

  private readonly workers: Worker[] = [];
  /** Jobs each worker has been sent and not answered. */
  private readonly load = new Map<Worker, number>();
  private readonly queue: Array<{
    job: InflateJob;
    done: (r: InflateResult) => void;
    fail: (e: Error) => void;
    signals: Array<AbortSignal | undefined>;
  }> = [];
  private readonly waiting = new Map<number, { done: (r: InflateResult) => void; fail: (e: Error) => void }>();
  private nextId = 0;
  private broken: Error | undefined;
  private closing = false;

  constructor(size = availableParallelism()) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const w = startWorker();
      w.on('message', (m: { id: number; result: InflateResult }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        this.load.set(w, this.load.get(w)! - 1);
        p?.done(m.result);
        this.dispatch();
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`an inflate worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.load.set(w, 0);
    }
  }

  /** Queues `job`; once one of `signals` aborts, a job not yet sent to a worker fails with its reason instead. */
  run(job: InflateJob, signals: Array<AbortSignal | undefined> = []): Promise<InflateResult> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((done, fail) => {
      this.queue.push({ job, done, fail, signals });
      this.dispatch();
    });
  }

  /** Ends the threads (and with them their handles on the archive). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Sends queued jobs, each to the worker with the fewest outstanding, while one has fewer than 1 + JOBS_AHEAD. */
  private dispatch(): void {
    while (this.queue.length > 0 && !this.broken) {
      let w = this.workers[0];
      for (const x of this.workers) if (this.load.get(x)! < this.load.get(w)!) w = x;
      if (this.load.get(w)! > JOBS_AHEAD) return;
      const next = this.queue.shift()!;
      const stopped = next.signals.find((s) => s?.aborted);
      if (stopped) {
        next.fail(stopped.reason as Error);
        continue;
      }
      const id = this.nextId++;
      this.waiting.set(id, { done: next.done, fail: next.fail });
      this.load.set(w, this.load.get(w)! + 1);
      w.postMessage({ id, job: next.job });
    }
  }

  private fail(err: Error): void {
    this.broken ??= err;
    for (const p of this.waiting.values()) p.fail(err);
    this.waiting.clear();
    for (const q of this.queue.splice(0)) q.fail(err);
  }
}
