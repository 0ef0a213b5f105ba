// An upload begun while its file is still being written (a solver's post file, written over minutes):
// each part goes up once the file has grown past its end, so at the close only the last part is left.
// Nothing is trusted at the close: the whole file is read again as it then is, and a part whose bytes
// differ from the ones sent (a header rewritten in place, a file truncated and written again) is sent
// again before the commit. What the store then holds is the file as it was at the close, verified as
// any other upload (agent/store/parts.ts reads, hashes and sends; each store commits its own way).
import { createHash, type Hash } from 'node:crypto';
import { openForUpload, readExactly, sendParts, type FileParts } from './parts.ts';
import type { ByteBudget } from './budget.ts';
import type { Location } from '../location.ts';
import type { FinishOptions, Growing, Uploaded } from './store.ts';

const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest();

/** What a store does with the parts of one upload in parts (S3: a multipart upload). */
export interface PartSink {
  /** Sends part `i` (0-based), replacing one sent before under the same number; begins the upload first. */
  send(i: number, buf: Buffer, md5: Buffer, signal?: AbortSignal): Promise<void>;
  /** Commits parts 0 … count-1 as the object (their MD5s in order): its digest, and the version's ETag. */
  commit(md5s: Buffer[], signal?: AbortSignal): Promise<{ digest: string; etag: string }>;
  /** Drops what was sent (nothing, when nothing was). */
  abort(): Promise<void>;
}

export interface GrowingOptions {
  file: string;
  dest: Location;
  /** Every part but the last is this long: the file's digest is then what `fingerprint` computes. */
  partSize: number;
  /** The store's parts per upload: a file that outgrows them is sent the usual way at its close. */
  maxParts: number;
  /** Parts of the file in flight at its close (while it grows, one at a time: the solver's cores). */
  partsPerFile: number;
  /** Memory: each part read takes its bytes from the one pool of every transfer. */
  budget: ByteBudget;
}

/**
 * One file's growing upload. `grow` sends the parts the file now holds whole (one call at a time: a
 * call made while one runs returns at once); `finish` sends the rest and commits, or answers undefined
 * when the file as it now is cannot be sent this way (at most one part, more than `maxParts`, or fewer
 * than were sent): the caller then uploads it the usual way. Any failure of `finish` aborts what was sent.
 */
export class GrowingUpload implements Growing {
  /** MD5 of each part as sent, by part number (its Content-MD5, and its share of the digest). */
  private readonly sent: Buffer[] = [];
  /** SHA-256 of each part as sent: at the close, a part is checked against it (faster than MD5 here). */
  private readonly shas: Buffer[] = [];
  /**
   * SHA-256 of parts 0 … wholeParts-1 as the store holds them, fed as they went: at the close, when
   * they are unchanged, the file's SHA-256 (for the manifest) goes on from there. Undefined once a
   * part under it was sent again with other bytes.
   */
  private whole: Hash | undefined = createHash('sha256');
  private wholeParts = 0;
  /** Parts numbered below this may be in the store (sent, or tried: a lost answer may hide a stored one). */
  private tried = 0;
  /** The next part `grow` reads. */
  private next = 0;
  private running: Promise<void> | undefined;
  /** Finished or aborted: no grow starts. */
  private ended = false;
  private committed = false;

  constructor(
    private readonly o: GrowingOptions,
    private readonly sink: PartSink,
  ) {}

  /** Sends the parts wholly within the file's first `size` bytes not sent yet (one grow at a time). */
  grow(size: number, signal?: AbortSignal): Promise<void> {
    if (this.running || this.ended) return Promise.resolve();
    const { partSize } = this.o;
    // Shrunk below what was read: written again from the start, so read again from there (a part
    // whose bytes came back the same is not sent again).
    if (size < this.next * partSize) this.next = 0;
    if (this.wholeIn(size) <= this.next) return Promise.resolve();
    this.running = this.sendWhole(size, signal).finally(() => (this.running = undefined));
    return this.running;
  }

  /** How many parts the file's first `size` bytes hold whole (one short of the store's limit at most). */
  private wholeIn(size: number): number {
    return Math.min(Math.floor(size / this.o.partSize), this.o.maxParts - 1);
  }

  private async sendWhole(size: number, signal?: AbortSignal): Promise<void> {
    const { partSize, file, budget } = this.o;
    const fh = await openForUpload(file, size);
    try {
      for (; this.next < this.wholeIn(size) && !this.ended; this.next++) {
        const { buf, release } = await budget.take(partSize, signal);
        try {
          await readExactly(fh, buf, this.next * partSize, file);
          const sha = sha256Of(buf);
          const same = this.shas[this.next]?.equals(sha) === true;
          if (!same) {
            const md5 = createHash('md5').update(buf).digest();
            this.tried = Math.max(this.tried, this.next + 1);
            await this.sink.send(this.next, buf, md5, signal);
            [this.sent[this.next], this.shas[this.next]] = [md5, sha];
          }
          this.held(this.next, buf, !same);
        } finally {
          release();
        }
      }
    } finally {
      await fh.close();
    }
  }

  /** Part `i` is in the store with the bytes of `buf` (`changed`: not the ones it held before). */
  private held(i: number, buf: Buffer, changed: boolean): void {
    if (!this.whole) return;
    if (i === this.wholeParts) {
      this.whole.update(buf);
      this.wholeParts++;
    } else if (changed || i > this.wholeParts) this.whole = undefined;
  }

  /**
   * The file as it is now (`size` bytes, unchanged during the call: the caller checks its state):
   * read whole, in parts; a part not sent, or sent with other bytes, goes now; then the commit.
   */
  async finish(f: FinishOptions): Promise<Uploaded | undefined> {
    if (this.ended) return undefined;
    this.ended = true; // a grow under way stops after its part, and none starts
    await this.running?.catch(() => {});
    const { partSize, maxParts, partsPerFile, budget, file } = this.o;
    const count = Math.ceil(f.size / partSize);
    // Parts sent past the file's end now (it shrank, or was replaced by a smaller one): a commit that
    // leaves sent parts out is refused by some servers (Ceph RGW: InvalidPart), so it goes up whole.
    if (count < 2 || count > maxParts || this.tried > count) {
      await this.sink.abort();
      return undefined;
    }
    // The file's SHA-256 goes on from the parts already hashed in order as they went up.
    const running = f.sha256 === false ? undefined : this.whole;
    const skip = running ? this.wholeParts : 0;
    const sha = f.sha256 === false ? undefined : (running ?? createHash('sha256'));
    const fh = await openForUpload(file, f.size);
    try {
      const md5s: Buffer[] = [];
      let [ordered, ahead, stale] = [0, 0, false];
      const parts: FileParts = {
        ...{ fh, file, size: f.size, partSize, partsPerFile, budget, signal: f.signal, meter: f.meter },
        onOrdered: sha && ((b: Buffer) => void (ordered++ >= skip && sha.update(b))),
        unchanged: (i, buf) => {
          const same = this.shas[i] !== undefined && this.shas[i].equals(sha256Of(buf));
          if (same) [md5s[i], ahead] = [this.sent[i], ahead + 1];
          else if (i < skip) stale = true; // hashed as it was, not as it is
          return same;
        },
      };
      await sendParts(parts, async (i, buf, md5, signal) => {
        md5s[i] = md5;
        await this.sink.send(i, buf, md5, signal);
      });
      const { digest, etag } = await this.sink.commit(md5s, f.signal);
      this.committed = true;
      const sha256 = sha && (stale ? await this.sha256Again(f.size, f.signal) : sha.digest('hex'));
      return { loc: this.o.dest, size: f.size, digest, etag, sha256, ahead: { parts: ahead, of: count } };
    } catch (err) {
      await this.sink.abort().catch(() => {});
      throw err;
    } finally {
      await fh.close();
    }
  }

  /** The file's SHA-256 read again (a part under the running hash had changed since it went up). */
  private async sha256Again(size: number, signal?: AbortSignal): Promise<string> {
    const { file, partSize, budget } = this.o;
    const hash = createHash('sha256');
    const fh = await openForUpload(file, size);
    try {
      for (let pos = 0; pos < size; pos += partSize) {
        const { buf, release } = await budget.take(Math.min(partSize, size - pos), signal);
        try {
          hash.update(await readExactly(fh, buf, pos, file));
        } finally {
          release();
        }
      }
    } finally {
      await fh.close();
    }
    return hash.digest('hex');
  }

  /**
   * Drops the upload (the file is gone, went up another way, or the run ends); waits for a grow under
   * way. Nothing, once committed.
   */
  async abort(): Promise<void> {
    this.ended = true;
    if (this.committed) return;
    await this.running?.catch(() => {});
    await this.sink.abort();
  }
}
