// What a run claims about its output prefix, in the order a consumer may rely on: the manifest, the run
// log beside it, and — for a complete run only — `_SUCCESS`, the last object under the prefix (so
// nothing there changes once it claims to be complete).
import { describeError, isAbort } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { MANIFEST, RUN_LOG, RUN_LOG_OBJECT, SUCCESS } from '../names.ts';
import type { Store } from '../store/store.ts';
import { markSuccess, putManifest, type Manifest } from './manifest.ts';
import { uploadRunLog } from './run-log.ts';

export interface ClaimOptions {
  /** The local run log, uploaded as `_ferry.log` after the manifest. */
  logFile: string;
  log: Log;
  /** A second signal stops the claim (nothing is deleted then). */
  signal?: AbortSignal;
}

/**
 * Uploads the run log next to the manifest (best effort: the log is not an output, and a run whose
 * outputs are verified does not fail for it). Lines logged after this one stay in the local log.
 */
async function uploadLog(store: Store, prefix: Location, o: ClaimOptions): Promise<void> {
  const dest = formatUri(under(prefix, RUN_LOG_OBJECT));
  o.log.info(`uploading this log to ${dest} (later lines stay in the local ${RUN_LOG} only)`);
  try {
    const n = await uploadRunLog(store, prefix, o.logFile, o.signal);
    o.log.detail(`uploaded ${RUN_LOG} (${n} bytes) to ${dest}, verified`);
  } catch (err) {
    o.log.warn(
      `could not upload ${RUN_LOG} to ${dest}: ${describeError(err)}\n  the outputs are verified; the run goes on`,
    );
  }
}

/**
 * Writes the manifest, then the run log next to it, then — for a complete run — `_SUCCESS`; false when
 * the manifest or `_SUCCESS` could not be written (said in the log; nothing is deleted then).
 */
export async function claim(store: Store, prefix: Location, manifest: Manifest, o: ClaimOptions): Promise<boolean> {
  try {
    await putManifest(store, prefix, manifest, o.signal);
    o.log.info(`wrote ${formatUri(under(prefix, MANIFEST))} (status ${manifest.status})`);
    await uploadLog(store, prefix, o);
    if (manifest.status === 'complete') {
      await markSuccess(store, prefix, o.signal);
      o.log.info(`wrote ${formatUri(under(prefix, SUCCESS))}: the prefix is complete`);
    }
    return true;
  } catch (err) {
    if (isAbort(err) && o.signal?.aborted)
      o.log.warn(`second signal: ${formatUri(under(prefix, MANIFEST))} was not written; nothing was deleted`);
    else o.log.error(`${describeError(err)}\n  nothing was deleted; re-run the same row`);
    return false;
  }
}
