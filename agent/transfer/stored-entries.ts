// A big stored (uncompressed) zip entry is written where it belongs as its ranged reads arrive: its
// bytes never pass through the temp copy of the archive and are not copied from there afterwards
// (a 150 MiB mesh was written twice and read once more). What it skips is only the detour: the
// entry lands under a temp name, and is renamed into place once its size and CRC-32 match.
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Location } from '../location.ts';
import type { TempNames } from '../names.ts';
import type { ObjectInfo, Store } from '../store/store.ts';
import { dataSpan, LOCAL_HEADER } from '../zip/entry-checks.ts';
import type { LandedEntry } from '../zip/extract.ts';
import { CrcPieces } from '../zip/crc-pieces.ts';
import { refuse, type PlannedEntry } from '../zip/plan.ts';

/** Stored entries at least this big go straight to their file (smaller ones are few bytes to copy). */
export const STORED_DIRECT_MIN = 8 * 1024 * 1024;
/** A local header is at most its 30 bytes, a 64 KiB name and a 64 KiB extra field. */
const HEADER_MAX = LOCAL_HEADER + 2 * 0xffff;

/** The archive the entries come from: one version of one object, read under the download's signal. */
interface Source {
  store: Store;
  loc: Location;
  obj: ObjectInfo;
  /** The archive's name in messages. */
  zip: string;
  signal: AbortSignal;
}

interface Open extends LandedEntry {
  fh: FileHandle;
  /** The CRC-32s of the bytes written, piece by piece, so the file need not be read back for it. */
  pieces: CrcPieces;
}

/**
 * The stored entries of one archive that go straight to their files. `prepare` (after the
 * extraction made the directories) reads their local headers and opens their temp files; `divert`
 * writes what of a downloaded chunk is theirs and returns what is left for the archive's temp copy.
 */
export class StoredEntries {
  private readonly entries: PlannedEntry[];
  private readonly opened = new Map<PlannedEntry, Open>();
  /** Every entry's header read and temp file open (undefined until `prepare`: none to prepare). */
  private ready: Promise<void> | undefined;

  constructor(
    plan: PlannedEntry[],
    private readonly dir: string,
    private readonly temps: TempNames,
  ) {
    this.entries = plan.filter(
      (p) =>
        !p.isDir &&
        p.entry.method === 0 &&
        p.entry.size >= STORED_DIRECT_MIN &&
        p.entry.size === p.entry.compressedSize,
    );
  }

  /**
   * The stored entries of `plan`, their headers read and temp files opened as soon as the extraction
   * calls `onDirs` (the folders made and checked); an abort of `signal` before that ends the wait.
   */
  static start(
    plan: PlannedEntry[],
    dir: string,
    temps: TempNames,
    src: Source,
  ): { stored: StoredEntries; onDirs: () => void; divert?: StoredEntries['divert'] } {
    const stored = new StoredEntries(plan, dir, temps);
    let onDirs = () => {};
    const made = new Promise<void>((resolve, reject) => {
      onDirs = resolve;
      src.signal.addEventListener('abort', () => reject(src.signal.reason), { once: true });
    });
    made.catch(() => {}); // seen through the preparation
    // A refusal of a header surfaces where the entry is awaited (its extraction, the download's divert).
    stored.prepare(src.store, src.loc, src.obj, src.zip, made, src.signal)?.catch(() => {});
    return { stored, onDirs, divert: stored.any ? (c, pos) => stored.divert(c, pos) : undefined };
  }

  /**
   * Where `p` lands straight in its file, once its temp file is open (then the extraction only checks
   * and renames it); undefined for an entry that goes through the archive's copy.
   */
  landed(p: PlannedEntry): Promise<LandedEntry> | undefined {
    if (!this.ready || !this.entries.includes(p)) return undefined;
    return this.ready!.then(() => this.opened.get(p)!);
  }

  /** Whether bytes [start, end) of the archive all belong to one entry that goes straight to its file. */
  within(start: number, end: number): boolean {
    return this.entries.some((p) => p.entry.localHeaderOffset <= start && end <= p.limit);
  }

  /** Whether any entry goes straight to its file. */
  get any(): boolean {
    return this.entries.length > 0;
  }

  /**
   * Reads each entry's local header (a ranged read of the same version of the object) and opens its
   * temp file, once `dirs` resolves (the directories made and checked for planted links). A header
   * that is not where the central directory says, or data overlapping the next entry, refuses the
   * archive as the extraction would.
   */
  private prepare(store: Store, loc: Location, obj: ObjectInfo, zip: string, dirs: Promise<void>, signal: AbortSignal) {
    if (this.entries.length === 0) return undefined;
    // Every entry settled before the first failure is told: close() never runs beside an open still under way.
    this.ready = Promise.allSettled(
      this.entries.map(async (p) => {
        const lho = p.entry.localHeaderOffset;
        const head = Buffer.alloc(Math.min(HEADER_MAX, p.limit - lho, obj.size - lho));
        await store.read(loc, obj.etag, [lho, lho + head.length], { phase: 'download', signal }, (chunk, pos) => {
          chunk.copy(head, pos - lho);
        });
        const span = dataSpan(head, lho, p.entry.compressedSize, p.limit);
        if (typeof span === 'string') throw refuse(zip, p.entry.name, span);
        await dirs;
        signal.throwIfAborted();
        const tmp = this.temps.temp(join(this.dir, p.rel));
        await rm(tmp, { force: true });
        const fh = await open(tmp, 'wx'); // wx: never through a link planted at the temp name
        const pieces = new CrcPieces(0, span.end - span.start);
        this.opened.set(p, { ...span, tmp, fh, pieces, crc: () => pieces.crc });
        await fh.truncate(p.entry.size);
      }),
    ).then((settled) => {
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
    return this.ready;
  }

  /**
   * Writes the parts of the chunk (at `pos` in the archive) that belong to a landed entry into its
   * file; returns the pieces still to write into the archive's copy. Waits for `prepare` only when
   * the chunk reaches an entry's header or data.
   */
  async divert(chunk: Buffer, pos: number): Promise<Array<[Buffer, number]>> {
    const end = pos + chunk.length;
    if (!this.ready || !this.entries.some((p) => p.entry.localHeaderOffset < end && pos < p.limit))
      return [[chunk, pos]];
    await this.ready;
    const rest: Array<[Buffer, number]> = [];
    let at = pos;
    const spans = [...this.opened.values()]
      .filter((o) => o.start < end && pos < o.end)
      .sort((a, b) => a.start - b.start);
    for (const o of spans) {
      const from = Math.max(at, o.start);
      const to = Math.min(end, o.end);
      if (from > at) rest.push([chunk.subarray(at - pos, from - pos), at]);
      await o.fh.write(chunk, from - pos, to - from, from - o.start);
      o.pieces.add(from - o.start, chunk.subarray(from - pos, to - pos));
      at = to;
    }
    if (at < end) rest.push([chunk.subarray(at - pos), at]);
    return rest;
  }

  /** Closes every temp file, once every write into them has returned (the download has ended). */
  async close(): Promise<void> {
    await this.ready?.catch(() => {});
    await Promise.all([...this.opened.values()].map((o) => o.fh.close().catch(() => {})));
  }

  /** Removes what is left under a temp name (a failed download, or an entry refused at its check). */
  async removeLeft(): Promise<void> {
    for (const o of this.opened.values()) {
      await rm(o.tmp, { force: true });
      this.temps.gone(o.tmp);
    }
  }
}
