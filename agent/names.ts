// Names ferry gives its own files and objects, in one place: matched here, never as literals elsewhere.

/** The run's log in the run directory: kept by the wipe, never uploaded. */
export const RUN_LOG = 'ferry.log';
/** What an earlier attempt of this row recorded (files there before ferry first ran, the run id). */
export const STATE_FILE = '.ferry-state.json';
/** Held while a ferry runs in this directory (a second one exits 75). */
export const LOCK_FILE = '.ferry-lock';
/** A file being written (download or extraction) carries this suffix until it is complete. */
export const PART_SUFFIX = '.ferry-part';
/** An input archive being downloaded for extraction (removed once extracted). */
export const INPUT_TEMP_PREFIX = '.ferry-input-';

/** Objects at the top of the output prefix that belong to ferry. */
export const MANIFEST = '_manifest.json';
export const SUCCESS = '_SUCCESS';
export const LEASE = '_ferry.lease';
/** The run's log as uploaded next to the manifest (not an output: the manifest does not list it). */
export const RUN_LOG_OBJECT = '_ferry.log';
/** Local files with these names are not uploaded (they would overwrite ferry's own objects). */
export const RESERVED_OUTPUT = new Set([MANIFEST, SUCCESS, LEASE, RUN_LOG_OBJECT]);

/** True for a temporary file of ferry's (anywhere in the tree, relative path with '/'). */
export function isTempName(rel: string): boolean {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  return base.endsWith(PART_SUFFIX) || base.startsWith(INPUT_TEMP_PREFIX);
}

/** True for a file of ferry's own in a run directory: the log, state and lock files, temp files. */
export function isOwnFile(rel: string): boolean {
  return rel === RUN_LOG || rel === STATE_FILE || rel === LOCK_FILE || isTempName(rel);
}

/** A key or file name that ferry extracts as a zip archive. */
export function isZipName(name: string): boolean {
  return /\.zip$/i.test(name);
}
