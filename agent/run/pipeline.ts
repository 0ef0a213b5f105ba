// `ferry run`, in the order it happens: prepare → (the lease) → fetch → solve (the solver, live
// upload and the final sweep) → record (manifest, run log, _SUCCESS) → wipe. Each stage takes what
// the earlier ones produced and returns its own; the lease is held from before the first byte moves
// until the last write to the prefix, and released on every path.
import { Lease, leaseLeft, LeaseLost } from '../prefix/lease.ts';
import { leaseTtlMs } from '../prefix/lease-view.ts';
import { rowIdentity, type RowIdentity } from '../prefix/row.ts';
import { createHash } from 'node:crypto';
import { formatUri, isPrefix } from '../location.ts';
import { planInputs } from '../transfer/fetch.ts';
import type { Job, Planned } from '../transfer/input-plan.ts';
import { linked } from '../signals.ts';
import { versionLine } from '../version.ts';
import { errorExit, EXIT, signalExit } from '../errors.ts';
import { Journal, readEarlier, type JournalView } from '../prefix/journal.ts';
import { settleAll } from '../settle.ts';
import type { ObjectInfo } from '../store/store.ts';
import { prepareOutput } from '../prefix/prepare.ts';
import { alreadyComplete } from './done.ts';
import { restore } from './restore.ts';
import { exitCode } from './exit-code.ts';
import { fetch, planFetch } from './fetch.ts';
import { prepare, type Prepared } from './prepare.ts';
import { record, solverExit, type Verdict } from './record.ts';
import type { Row } from './row.ts';
import { solve } from './solve.ts';
import { removeSecretInputs, wipe } from './wipe.ts';
import { checkSolver } from '../solver/plan.ts';
import { jobInputs, type JobInputs } from '../rundir/job-inputs.ts';
import { BeforeSolver, beforeSolver, recordable, recordFailure, type Held } from './failed.ts';

/** How the row ended: the exit code, and what the summary line reports. */
export interface RowEnd {
  code: number;
  solverMs: number;
  status?: Verdict['status'];
}

/** The output prefix's lease for this row, taken before anything is written there. */
function takeLease(row: Row, p: Pick<Prepared, 'attempt'> & { runId: string }, id: RowIdentity): Promise<Lease> {
  return Lease.acquire(row.output, row.cfg.output, {
    row: id,
    attempt: p.attempt,
    runId: p.runId,
    ferry: versionLine(),
    takeOver: row.cfg.takeOver,
    ttlMs: leaseTtlMs(row.ctx.env),
    log: row.log,
    // Not the first signal: after it outputs are still uploaded, so the lease is renewed, and then removed.
    signal: row.ctx.hardStop,
  });
}

/**
 * This row as every attempt of it sees it: the output prefix, each input with its ETag now (a prefix:
 * a digest of the keys and ETags under it), the solver; and the objects so found, which are the ones
 * fetched (a HEAD each, once: an object replaced since is found by its ETag when downloaded).
 */
async function identify(row: Row): Promise<{ id: RowIdentity; jobs: Job[] }> {
  const inputs = [];
  const all: Job[] = [];
  for (const uri of row.cfg.inputs) {
    const jobs = await planInputs((loc) => row.stores.for(loc), [uri], row.ctx.stop);
    all.push(...jobs);
    const etag = isPrefix(uri)
      ? `list:${createHash('sha256')
          .update(jobs.map((j) => `${j.obj.key}\0${j.obj.etag}`).join('\n'))
          .digest('hex')
          .slice(0, 16)}`
      : jobs[0].obj.etag;
    inputs.push({ uri: formatUri(uri), etag });
  }
  return { id: rowIdentity(row.cfg.output, inputs, row.cfg.solver, row.ctx.env), jobs: all };
}

/** The row; a failure before its solver started is recorded under the output prefix (run/failed.ts). */
export async function runRow(row: Row): Promise<RowEnd> {
  const held: Held = { take: (attempt, runId, id) => takeLease(row, { attempt, runId }, id) };
  // The files this run was given, known before anything can fail: whatever follows, the secret ones go.
  let job: JobInputs | undefined;
  try {
    job = jobInputs(row.cfg, row.ctx.env, row.ctx.cwd);
    return await leased(row, held, job);
  } catch (e) {
    return await failedRow(row, e, held);
  } finally {
    await removeSecretInputs(row, job);
  }
}

/** A failure before the solver started, recorded; anything else thrown on. */
async function failedRow(row: Row, e: unknown, held: Held): Promise<RowEnd> {
  const failure = e instanceof BeforeSolver ? recordable(row, e.failure) : undefined;
  if (!failure) throw e instanceof BeforeSolver ? e.failure : e;
  await recordFailure(row, failure, held);
  return { code: failure.exitCode, solverMs: 0, status: 'failed' };
}

async function leased(row: Row, held: Held, job: JobInputs): Promise<RowEnd> {
  const p = (held.p = await beforeSolver(() => prepare(row, job)));
  const { id, jobs } = await beforeSolver(() => identify(row));
  held.id = id;
  // Reading the archives' central directories (and checking where every entry lands) writes nothing:
  // it goes on beside the prefix's round trips (the bench row's took 0.06 s before its first byte).
  // Its failure is the fetch's, recorded under the lease as before; unused, it is stopped.
  const unused = new AbortController();
  const planning = planFetch(row, p, jobs, linked(row.ctx.stop, unused.signal));
  planning.catch(() => undefined); // (awaited by the fetch, if there is one)
  try {
    if (!row.cfg.rerun && (await alreadyComplete(row, id))) return { code: EXIT.ok, solverMs: 0, status: 'complete' };
    const lease = await takeLease(row, { attempt: p.attempt, runId: p.state.runId }, id);
    return await leasedAttempt(row, held, p, id, lease, planning);
  } finally {
    unused.abort();
  }
}

async function leasedAttempt(
  row: Row,
  held: Held,
  p: Prepared,
  id: RowIdentity,
  lease: Lease,
  planning: Promise<Planned[]>,
): Promise<RowEnd> {
  let end: RowEnd | undefined;
  try {
    // The attempt it waited for (or a dead one it took over from) may have finished the row: done is
    // done, not withdrawn and run again (hostile review: a second run of a row begun meanwhile took
    // _SUCCESS away from the prefix the first had just completed, and ran the solver from step 0).
    if (lease.contended && !row.cfg.rerun && (await alreadyComplete(row, id)))
      return (end = { code: EXIT.ok, solverMs: 0, status: 'complete' });
    return (end = await attempt(row, p, id, lease, planning));
  } catch (e) {
    if (!(e instanceof BeforeSolver)) throw e;
    return (end = await failedRow(row, e, { ...held, lease }));
  } finally {
    await lease.release().catch((err) => {
      row.log.error(leaseLeft(lease.uri, err, leaseTtlMs(row.ctx.env)));
      if (end && end.code === EXIT.ok) end.code = errorExit(err, EXIT.cantCreate);
    });
  }
}

/** The attempt, once the lease is this run's: its journal, then the stages in order. */
async function attempt(
  row: Row,
  p: Prepared,
  id: RowIdentity,
  lease: Lease,
  planning: Promise<Planned[]>,
): Promise<RowEnd> {
  const call = { phase: 'upload' as const, signal: row.ctx.stop };
  // What earlier attempts left, read beside the output's preparation: independent round trips.
  const [earlier, existing] = (await settleAll<unknown>([
    readEarlier(row.output, row.cfg.output, call, id.key),
    prepareOutput(row.output, row.cfg.output, row.log, row.ctx.stop),
  ])) as [JournalView, Map<string, ObjectInfo>];
  const info = { attempt: p.attempt, row: id.key, ...(id.jobId ? { job_id: id.jobId } : {}) };
  const journal = new Journal(row.output, row.cfg.output, info, {
    log: row.log,
    signal: row.ctx.hardStop,
    fence: () => lease.fence(),
  });
  // a failure here is recorded under this attempt's lease (run/failed.ts)
  const f = await beforeSolver(async () => {
    const fetched = await restore(row, p, id, await fetch(row, p, planning), { earlier, existing });
    checkSolver(row.cfg, row.ctx.env); // once the input is in place: it may bring the solver
    return fetched;
  });
  const s = await solve(row, p, f, { lease, journal, existing });
  // What is left of the journal goes up beside the record stage's scan and listing (the claim waits
  // for it before it removes the journal): one round trip less after the solver's exit.
  const journaled = journal.flush();
  const stop = row.ctx.stop;
  const stoppedBy = stop.aborted ? ((stop.reason as { signal?: string } | undefined)?.signal ?? 'SIGTERM') : undefined;
  // A run frozen past its lease, with nothing left to upload, learns here that it lost it.
  await lease.fence().catch((err) => {
    if (!(err instanceof LeaseLost)) throw err;
  });
  if (lease.lost) return await journaled.then(() => lostLease(row, s.solver.ms, stoppedBy));
  const rec = await record(row, p, f, s, { id, lease, earlier, journaled, checkpoints: journal.checkpoints });
  const w = await wipe(row, rec, lease, p.job);
  const code = exitCode({
    manifestWritten: rec.written,
    stoppedBy,
    preempted: s.stopped === 'preempted',
    leaseLost: lease.lost,
    notUploaded: rec.verdict.notUploaded.size,
    failedExit: rec.verdict.failedExit,
    changedAtWipe: w.changedAtWipe.length > 0,
    notWhole: rec.notWhole,
    solverExit: solverExit(s.solver),
  });
  return { code, solverMs: s.solver.ms, status: rec.verdict.status };
}

/**
 * Another attempt took the prefix while this one ran (this one was frozen, or cut off from the store
 * past its lease): no manifest, no `_SUCCESS`, no wipe. That attempt carries the row on; this one
 * ends with 75 (a signal that stopped it first keeps its 128+N).
 */
function lostLease(row: Row, solverMs: number, stoppedBy: string | undefined): RowEnd {
  row.log.error(
    "this attempt lost the output prefix's lease (see above): it writes no manifest and wipes nothing " +
      '(its files stay in the run directory); the attempt holding the prefix carries the row on',
  );
  return { code: stoppedBy ? signalExit(stoppedBy) : EXIT.busy, solverMs, status: 'incomplete' };
}
