// A later attempt's run directory made what the dead node's held, as far as the store holds it: every
// object earlier attempts of the row uploaded and journaled comes back to its path, checked against
// the sha256 recorded for it, before the solver starts. `--resume-skip GLOB` leaves matching objects in
// the store only (big post-processing files a restart does not need; the manifest still lists them).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TransferSettings } from '../config.ts';
import { formatBytes } from '../log.ts';
import { under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import type { TempNames } from '../names.ts';
import type { JournalEntry, JournalView } from '../prefix/journal.ts';
import { fileState, type FileState, type Snapshot } from '../rundir/tree.ts';
import { downloadObject } from '../store/download.ts';
import type { Meter, ObjectInfo, Store } from '../store/store.ts';
import { eachIndex } from '../workers.ts';
import { unsafeRel } from './key-path.ts';

export interface RestoreOptions {
  /** The row's key: only its own attempts' entries come back. */
  row: string;
  /** Objects under the prefix now, by key (a journaled object that is gone or changed is not restored). */
  existing: Map<string, ObjectInfo>;
  /** Files already in the run directory (there before, or inputs): never overwritten. */
  present: Snapshot;
  /** Relative paths left in the store only (--resume-skip). */
  skip: (rel: string) => boolean;
  /**
   * The solver's checkpoint files (a checkpoint profile): one journaled as an output but not as a
   * resume point (a stopped solver was still writing it) stays in the store: back in the run
   * directory, the solver would resume from it, the newest.
   */
  checkpointFiles?: (rel: string) => boolean;
  transfer: TransferSettings;
  temps: TempNames;
  log: Log;
  signal?: AbortSignal;
  meter?: Meter & { addFile(): void };
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A checkpoint file journaled only as an output (it was being written when its attempt stopped): said once. */
function unfinishedCheckpoint(e: JournalEntry, o: RestoreOptions): boolean {
  if (!o.checkpointFiles?.(e.path) || e.checkpoint) return false;
  o.log.info(`not restoring ${e.path}: a checkpoint its attempt did not finish (it stays in the store)`);
  return true;
}

/** The journaled objects of this row that can come back: still in the store as journaled, not in the way. */
function restorable(prefix: Location, journal: JournalView, o: RestoreOptions): JournalEntry[] {
  const ours = new Set(journal.attempts.filter((a) => a.row === o.row).map((a) => a.attempt));
  return [...journal.entries.values()].filter((e) => {
    const now = o.existing.get(under(prefix, e.path).key);
    return (
      ours.has(e.attempt) &&
      now?.etag === e.etag &&
      now.size === e.size &&
      !o.present.has(e.path) &&
      !o.skip(e.path) &&
      !unfinishedCheckpoint(e, o) &&
      unsafeRel(e.path) === undefined
    );
  });
}

/** Restores into `dir`; returns the restored files' states (they are in the store: not outputs while unchanged). */
export async function restoreEarlier(
  store: Store,
  prefix: Location,
  dir: string,
  journal: JournalView,
  o: RestoreOptions,
): Promise<Snapshot> {
  const todo = restorable(prefix, journal, o);
  const restored: Snapshot = new Map();
  if (todo.length === 0) return restored;
  const bytes = todo.reduce((n, e) => n + e.size, 0);
  o.log.info(`restoring ${todo.length} file(s) (${formatBytes(bytes)}) that earlier attempts of this row uploaded`);
  const opts = { partSize: o.transfer.partSize, concurrency: o.transfer.partsPerFile * 2, signal: o.signal };
  await eachIndex(
    todo.length,
    o.transfer.filesInFlight,
    async (i) => {
      const e = todo[i];
      const dest = join(dir, e.path);
      const loc = under(prefix, e.path);
      await downloadObject(store, loc, o.existing.get(loc.key)!, dest, { ...opts, temps: o.temps, meter: o.meter });
      if ((await sha256File(dest)) !== e.sha256) {
        await rm(dest, { force: true });
        o.log.warn(
          `not restoring ${e.path}: its bytes do not have the sha256 its attempt recorded (left in the store)`,
        );
        return;
      }
      restored.set(e.path, (await fileState(dest)) as FileState);
      o.meter?.addFile();
      o.log.detail(`restored ${e.path} (${e.size} bytes, sha256 as journaled by attempt ${e.attempt})`);
    },
    { signal: o.signal, stopOnError: true },
  );
  return restored;
}
