// The journal of a row under its output prefix: what each attempt uploaded and verified (path, size,
// ETag, sha256, when; checkpoints marked), written as small objects `_ferry.journal/<attempt>/<n>.json`
// while the attempt runs. A later attempt on any node reads it back to adopt what earlier ones left
// (their sha256 without reading their bytes) and to resume from the newest checkpoint they verified.
import { hostname } from 'node:os';
import { describeError, EXIT, FerryError, isAbort } from '../errors.ts';
import { formatUri, under, withKey, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { JOURNAL } from '../names.ts';
import type { Call, Store } from '../store/store.ts';
import { fetchManifest } from './manifest.ts';
import { eachIndex } from '../workers.ts';

/** The attempt of an object no attempt of the row is known to have written (listed as found there). */
export const FOUND = 'found there';

export interface JournalEntry {
  path: string;
  size: number;
  etag: string;
  sha256: string;
  /** The attempt that wrote it. */
  attempt: string;
  at: string;
  /** A checkpoint (a restart file), verified: a later attempt may resume from it. */
  checkpoint?: boolean;
}

/** One attempt, as its journal tells it. */
export interface AttemptInfo {
  attempt: string;
  row: string;
  host: string;
  job_id?: string;
  started_at: string;
}

interface Segment extends AttemptInfo {
  entries: JournalEntry[];
}

/** Entries wait this long (or until there are this many) before they go up as one object. */
const FLUSH_MS = 15_000;
const FLUSH_ENTRIES = 500;

export class Journal {
  /** The paths whose latest entry this attempt journaled marks a checkpoint (the manifest marks them too). */
  readonly checkpoints = new Set<string>();
  private pending: JournalEntry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly info: AttemptInfo;

  constructor(
    private readonly store: Store,
    private readonly prefix: Location,
    attempt: Omit<AttemptInfo, 'host' | 'started_at'>,
    private readonly o: { log: Log; signal?: AbortSignal; fence?: () => Promise<void> },
  ) {
    this.info = { ...attempt, host: hostname(), started_at: new Date().toISOString() };
  }

  /** Records a verified upload; a checkpoint goes up at once (returns when it is in the store). */
  async record(e: Omit<JournalEntry, 'attempt' | 'at'>): Promise<void> {
    this.pending.push({ ...e, attempt: this.info.attempt, at: new Date().toISOString() });
    if (e.checkpoint) this.checkpoints.add(e.path);
    else this.checkpoints.delete(e.path);
    if (e.checkpoint || this.pending.length >= FLUSH_ENTRIES) return this.flush();
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Writes what is pending as the next segment; a failure is a warning (the manifest lists it all). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return this.writing;
    const entries = this.pending;
    this.pending = [];
    const n = this.seq++;
    this.writing = this.writing.then(() => this.write(n, entries));
    return this.writing;
  }

  private async write(n: number, entries: JournalEntry[]): Promise<void> {
    const loc = under(this.prefix, `${JOURNAL}${this.info.attempt}/${String(n).padStart(6, '0')}.json`);
    const body = Buffer.from(JSON.stringify({ ...this.info, entries } satisfies Segment));
    try {
      await this.o.fence?.();
      await this.store.putBytes(loc, body, {
        phase: 'upload',
        signal: this.o.signal,
        what: 'writing the journal',
        contentType: 'application/json',
      });
    } catch (err) {
      // The lease lost (said by the lease, once) or transfers stopped by a second signal: the journal just stops.
      const quiet = (err instanceof FerryError && err.exitCode === EXIT.busy) || isAbort(err);
      this.o.log[quiet ? 'detail' : 'warn'](`could not write the journal ${formatUri(loc)}: ${describeError(err)}`);
    }
  }
}

/** What the journal under a prefix holds: the latest entry of each path, and every attempt. */
export interface JournalView {
  entries: Map<string, JournalEntry>;
  attempts: AttemptInfo[];
}

/** Reads every segment under the prefix's journal (a broken one is skipped: it proves nothing). */
export async function readJournal(store: Store, prefix: Location, call: Call): Promise<JournalView> {
  const segs = await store.list(withKey(prefix, `${prefix.key}${JOURNAL}`), call);
  const entries = new Map<string, JournalEntry>();
  const attempts = new Map<string, AttemptInfo>();
  const read = await Promise.all(
    segs.map((o) => store.fetch(withKey(prefix, o.key), { ...call, what: 'reading the journal' })),
  );
  for (const got of read) {
    let seg: Segment;
    try {
      seg = JSON.parse(got!.body.toString('utf8')) as Segment;
      if (!Array.isArray(seg.entries) || typeof seg.attempt !== 'string') continue;
    } catch {
      continue;
    }
    const { entries: list, ...info } = seg;
    if (!attempts.has(info.attempt)) attempts.set(info.attempt, info);
    for (const e of list) {
      const prev = entries.get(e.path);
      if (!prev || prev.at <= e.at) entries.set(e.path, e);
    }
  }
  const ordered = [...attempts.values()].sort((a, b) => (a.started_at < b.started_at ? -1 : 1));
  return { entries, attempts: ordered };
}

/**
 * Lists the row's journal and returns what removes it, once a complete manifest holds all it knew
 * (before `_SUCCESS`, which stays the last object of a complete prefix); a segment that cannot be
 * removed is a warning. The listing may go beside the manifest's read-back: once this attempt's last
 * segment is in, nothing adds to the journal while its lease holds.
 */
export async function journalRemoval(
  store: Store,
  prefix: Location,
  call: Call,
  log: Log,
): Promise<() => Promise<void>> {
  const segs = await store.list(withKey(prefix, `${prefix.key}${JOURNAL}`), call);
  // Side by side: a long run flushes a segment every FLUSH_MS it verified something (thousands in 40 hours).
  return () => removeSegments(store, prefix, segs, call, log);
}

async function removeSegments(
  store: Store,
  prefix: Location,
  segs: Array<{ key: string }>,
  call: Call,
  log: Log,
): Promise<void> {
  await eachIndex(segs.length, REMOVALS_AT_ONCE, async (i) => {
    const loc = withKey(prefix, segs[i].key);
    await store.remove(loc, { ...call, what: 'removing the journal' }).catch((err) => {
      log.warn(`could not remove ${formatUri(loc)}: ${describeError(err)}`);
    });
  });
}

/** Journal segments removed at once once the manifest holds them. */
const REMOVALS_AT_ONCE = 16;

/**
 * What earlier attempts of the row left known: their journal, and the manifest of an earlier attempt
 * of the same row (a complete prefix keeps no journal: its manifest holds it all).
 */
export async function readEarlier(store: Store, prefix: Location, call: Call, row: string): Promise<JournalView> {
  // The manifest is read beside the journal's listing (one round trip, not two, before the download).
  const manifest = fetchManifest(store, prefix, call).catch(() => undefined);
  const view = await readJournal(store, prefix, call).finally(() => manifest);
  const m = await manifest;
  if (!m || m.row !== row) return view;
  for (const a of m.attempts ?? [])
    if (!view.attempts.some((x) => x.attempt === a.attempt)) view.attempts.push({ ...a, row });
  for (const o of m.outputs) {
    const attempt = o.attempt ?? m.attempt ?? m.run_id;
    if (attempt === FOUND) continue; // not written by an attempt of the row: hashed again if still there
    if (!view.attempts.some((x) => x.attempt === attempt))
      view.attempts.push({ attempt, row, host: '?', started_at: m.started_at });
    const prev = view.entries.get(o.path);
    if (!prev) view.entries.set(o.path, { ...o, attempt, at: m.ended_at });
  }
  return view;
}
