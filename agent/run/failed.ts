// A row that fails before its solver starts (the solver not found, an input missing, an archive that
// is not one) leaves a record where its output prefix is writable: a manifest that says `failed`, with
// the error (message, exit code, phase), and the run log beside it; never `_SUCCESS`. Not when the
// failure is the prefix itself (another run holds it, access denied, the store unreachable).
import { hostname } from 'node:os';
import { describeError, EXIT, FerryError, isAbort } from '../errors.ts';
import { formatUri, under } from '../location.ts';
import { SUCCESS } from '../names.ts';
import type { Lease } from '../prefix/lease.ts';
import type { Manifest } from '../prefix/manifest.ts';
import { attemptId, rowIdentity, type RowIdentity } from '../prefix/row.ts';
import { versionLine } from '../version.ts';
import type { Prepared } from './prepare.ts';
import { claimPrefix } from './record.ts';
import type { Row } from './row.ts';

/** Thrown by a stage before the solver starts: runRow records it (recordFailure), or rethrows the cause. */
export class BeforeSolver extends Error {
  constructor(readonly failure: unknown) {
    super('failed before the solver started');
  }
}

/** Runs `work`, marking what it throws as a failure before the solver started. */
export async function beforeSolver<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new BeforeSolver(err);
  }
}

/** Failures that are about the output prefix (or the store), or a stop: nothing is written for them. */
const NOT_RECORDED = new Set<number>([EXIT.busy, EXIT.noPerm, EXIT.unavailable, EXIT.cantCreate]);

/** The error as a failure record may carry it, or undefined when nothing is to be written. */
export function recordable(row: Row, err: unknown): FerryError | undefined {
  if (!(err instanceof FerryError) || isAbort(err) || row.ctx.stop.aborted) return undefined;
  return NOT_RECORDED.has(err.exitCode) || err.phase === 'upload' ? undefined : err;
}

function failedManifest(row: Row, err: FerryError, attempt: string, runId: string, key: string): Manifest {
  const started = row.startedAt.toISOString();
  return {
    ferry: versionLine(),
    run_id: runId,
    row: key,
    attempt,
    status: 'failed',
    started_at: started,
    ended_at: new Date().toISOString(),
    error: { message: err.render(), exit_code: err.exitCode, phase: err.phase },
    inputs: [],
    solver: { argv: row.cfg.solver, command: row.cfg.solver, exit_code: null, signal: null },
    attempts: [{ attempt, host: hostname(), started_at: started }],
    outputs: [],
    not_uploaded: [],
    kept: [],
  };
}

export interface Held {
  lease?: Lease;
  p?: Prepared;
  id?: RowIdentity;
  take: (attempt: string, runId: string, id: RowIdentity) => Promise<Lease>;
}

/**
 * Logs the failure, then writes the failure record under the output prefix (taking the lease when this
 * attempt does not hold it yet, releasing what it took). A prefix that holds `_SUCCESS` (a complete
 * earlier run) is left as it is. Best effort: a record that cannot be written is a warning.
 */
export async function recordFailure(row: Row, err: FerryError, h: Held): Promise<void> {
  const { cfg, log } = row;
  log.error(err.render());
  const attempt = h.p?.attempt ?? attemptId();
  const runId = h.p?.state.runId ?? attempt;
  const unknown = cfg.inputs.map((u) => ({ uri: formatUri(u), etag: '' }));
  const id = h.id ?? rowIdentity(cfg.output, unknown, cfg.solver, row.ctx.env);
  let taken: Lease | undefined;
  try {
    const call = { phase: 'upload' as const, signal: row.ctx.hardStop, what: `reading ${SUCCESS}` };
    if (await row.output.fetch(under(cfg.output, SUCCESS), call))
      return log.info(`the output prefix holds a complete earlier run (${SUCCESS}): left as it is`);
    const lease = h.lease ?? (taken = await h.take(attempt, runId, id));
    const claimed = await claimPrefix(row, failedManifest(row, err, attempt, runId, id.key), lease);
    if (!claimed.written) log.warn('the failure is not recorded under the output prefix (see above)');
  } catch (e) {
    log.warn(`could not record the failure under ${formatUri(cfg.output)}: ${describeError(e)}`);
  } finally {
    await taken?.release().catch((e) => log.warn(`could not remove the lease: ${describeError(e)}`));
  }
}
