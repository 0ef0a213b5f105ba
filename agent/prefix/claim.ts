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
import { verifyPrefix, type Finding } from './verify.ts';

const said = (f: Finding) => `${f.kind} ${f.key}: ${f.detail}`;

export interface ClaimOptions {
  /** The local run log, uploaded as `_ferry.log` after the manifest. */
  logFile: string;
  log: Log;
  /** A second signal stops the claim (nothing is deleted then). */
  signal?: AbortSignal;
  /** Throws when this run may not claim the prefix any more (the lease). */
  fence?: () => Promise<void>;
  /**
   * What the complete manifest makes redundant (the row's journal): found beside the read-back, and
   * removed (the function it resolves with) before `_SUCCESS`, once the prefix reads back whole.
   */
  tidy?: () => Promise<() => Promise<void>>;
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

/** What the claim came to: whether the manifest is in the store, and the status it says. */
export interface Claimed {
  written: boolean;
  status: Manifest['status'];
  /** The manifest as written last (incomplete, when the prefix did not read back whole). */
  manifest: Manifest;
}

/**
 * The prefix as `ferry verify` would judge it, the run's own lease aside: `_SUCCESS` is written only
 * when it would call the prefix whole.
 */
async function notWhole(store: Store, prefix: Location, o: ClaimOptions): Promise<Finding[]> {
  const v = await verifyPrefix(store, prefix, {
    deep: false,
    anyStatus: true,
    ownLease: true,
    concurrency: 4,
    signal: o.signal,
  });
  return v.findings;
}

/**
 * Writes the manifest, then the run log next to it, then — for a complete run whose prefix reads back
 * whole — `_SUCCESS`. Each claim first makes sure this run still holds the prefix (`fence`). Not
 * written (said in the log; nothing is deleted then) when the store refuses or the lease is lost.
 */
export async function claim(store: Store, prefix: Location, manifest: Manifest, o: ClaimOptions): Promise<Claimed> {
  try {
    await o.fence?.();
    await putManifest(store, prefix, manifest, o.signal);
    o.log.info(`wrote ${formatUri(under(prefix, MANIFEST))} (status ${manifest.status})`);
    const logged = uploadLog(store, prefix, o); // never throws; beside the read-back (one round trip less)
    if (manifest.status !== 'complete') {
      await logged;
      return { written: true, status: manifest.status, manifest };
    }
    const redundant = o.tidy?.();
    redundant?.catch(() => undefined); // (awaited below, unless the prefix is not whole)
    const [problems] = await Promise.all([notWhole(store, prefix, o), logged]);
    if (problems.length > 0) return withhold(store, prefix, manifest, problems, o);
    await o.fence?.();
    const remove = await redundant;
    await remove?.(); // the journal: the complete manifest holds all it knew
    await markSuccess(store, prefix, o.signal);
    o.log.info(`wrote ${formatUri(under(prefix, SUCCESS))}: the prefix is complete`);
    return { written: true, status: 'complete', manifest };
  } catch (err) {
    if (isAbort(err) && o.signal?.aborted)
      o.log.warn(
        `second signal: ${formatUri(under(prefix, MANIFEST))} was not written; the run directory was not wiped`,
      );
    else o.log.error(`${describeError(err)}\n  the run directory was not wiped; re-run the same row`);
    return { written: false, status: 'incomplete', manifest };
  }
}

/** The prefix did not read back as its manifest says: no `_SUCCESS`, the manifest says incomplete. */
async function withhold(
  store: Store,
  prefix: Location,
  m: Manifest,
  problems: Finding[],
  o: ClaimOptions,
): Promise<Claimed> {
  o.log.error(
    `the output prefix does not read back as its manifest says (${problems.slice(0, 3).map(said).join('; ')}): ` +
      `${SUCCESS} is not written; re-run the row`,
  );
  const manifest: Manifest = {
    ...m,
    status: 'incomplete',
    not_uploaded: [...m.not_uploaded, ...problems.map((f) => ({ path: f.key, error: said(f) }))],
  };
  await putManifest(store, prefix, manifest, o.signal);
  return { written: true, status: 'incomplete', manifest };
}
