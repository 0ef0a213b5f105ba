// Names ferry gives its own files and objects, in one place: matched here, never as literals elsewhere.
import { randomBytes } from 'node:crypto';

/** The run's log in the run directory: kept by the wipe, never uploaded. */
export const RUN_LOG = 'ferry.log';
/** What an earlier attempt of this row recorded (files there before ferry first ran, the run id). */
export const STATE_FILE = '.ferry-state.json';
/** Held while a ferry runs in this directory (a second one exits 75). */
export const LOCK_FILE = '.ferry-lock';
/**
 * A file being written (download, extraction, a report) is named `<name>.ferry-<token>-<n>` until it
 * is complete: the token is the row's (see agent/rundir/own-files.ts), so a solver's `x.ferry-part`
 * is never taken for one of ferry's.
 */
const TEMP_NAME = /\.ferry-([0-9a-f]{12})-\d+$/;
/** Temp names are built from at most this many bytes of the target's name (a long name stays under NAME_MAX). */
const TEMP_BASE_MAX = 100;

/** The temporary name of `target` (a path) for `token` and a sequence number. */
export function tempName(target: string, token: string, n: number): string {
  const slash = target.lastIndexOf('/');
  const base = target.slice(slash + 1);
  const short = Buffer.byteLength(base) <= TEMP_BASE_MAX ? base : 'file';
  return `${target.slice(0, slash + 1)}${short}.ferry-${token}-${n}`;
}

/** The token of a temporary name of ferry's, or undefined. */
export function tempToken(rel: string): string | undefined {
  return TEMP_NAME.exec(rel)?.[1];
}

/** Where files being written get their temporary names, and hear that one is gone (renamed or removed). */
export interface TempNames {
  temp(target: string): string;
  gone(tmp: string): void;
}

/** Temporary names outside a run (a report, `ferry get`): a fresh token, nothing recorded. */
export function oneOffTemps(): TempNames {
  const token = randomBytes(6).toString('hex');
  let n = 0;
  return { temp: (target) => tempName(target, token, n++), gone: () => {} };
}

/** Objects at the top of the output prefix that belong to ferry. */
export const MANIFEST = '_manifest.json';
export const SUCCESS = '_SUCCESS';
export const LEASE = '_ferry.lease';
/** The run's log as uploaded next to the manifest (not an output: the manifest does not list it). */
export const RUN_LOG_OBJECT = '_ferry.log';
/** Local files with these names are not uploaded (they would overwrite ferry's own objects). */
export const RESERVED_OUTPUT = new Set([MANIFEST, SUCCESS, LEASE, RUN_LOG_OBJECT]);
/** The row's journal under the output prefix (agent/prefix/journal.ts): ferry's own objects too. */
export const JOURNAL = '_ferry.journal/';
/**
 * Where `ferry doe rehearse` writes a row: a prefix of its own inside the row's, so that a rehearsal
 * never passes for the row's run (its done check, `doe status`, `verify`) and any policy of the row
 * covers it. ferry's own, as the journal: never an output of the row.
 */
export const REHEARSAL = '_ferry.rehearsal/';

/** True for a key (relative to the output prefix) that names one of ferry's own objects, not an output. */
export function isOwnObject(rel: string): boolean {
  return RESERVED_OUTPUT.has(rel) || rel.startsWith(JOURNAL) || rel.startsWith(REHEARSAL);
}

/** ferry's files at the top of a run directory, by name (temporary files go by their token: own-files.ts). */
export const FIXED_OWN = new Set([RUN_LOG, STATE_FILE, LOCK_FILE]);

/** A key or file name that ferry extracts as a zip archive. */
export function isZipName(name: string): boolean {
  return /\.zip$/i.test(name);
}
