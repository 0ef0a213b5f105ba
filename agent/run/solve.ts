import { describeError } from '../errors.ts';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes } from '../log.ts';
import { formatUri, under } from '../location.ts';
import { RESERVED_OUTPUT, RUN_LOG } from '../names.ts';
import { RunLogCopy } from '../prefix/run-log.ts';
import { Heartbeat, heartbeatMs } from '../transfer/heartbeat.ts';
import type { Journal } from '../prefix/journal.ts';
import type { Lease } from '../prefix/lease.ts';
import type { ObjectInfo } from '../store/store.ts';
import { notOutput } from '../rundir/job-inputs.ts';
import { heldOpenOutside, openForWriting, writersAreLocal } from '../solver/writers.ts';
import { guardStops, runPids } from './stops.ts';
import { runSolver, type SolverResult } from '../solver/run.ts';
import { LiveUpload } from '../transfer/live-upload.ts';
import type { PhaseProgress } from '../transfer/progress.ts';
import { finalSweep, type SweepResult } from '../transfer/sweep.ts';
import { Uploader, type UploadOutcome } from '../transfer/upload.ts';
import type { Fetched } from './fetch.ts';
import type { Prepared } from './prepare.ts';
import type { Row } from './row.ts';

/** What the solver did, and where its outputs stand in the store once the final sweep is done. */
export interface Solved {
  solver: SolverResult;
  sweep: SweepResult;
  /** Why the run stopped the solver early, if it did (`preempted`: an interruption notice). */
  stopped?: string;
}

/** What this attempt holds of the row while it runs: the lease (every write is fenced by it), the journal. */
export interface Holding {
  lease: Lease;
  journal: Journal;
  /** What the prefix held when this attempt began, by key: a file with the same bytes is not sent again. */
  existing: Map<string, ObjectInfo>;
}

/** The uploader of this attempt: fenced by the lease, every verified upload journaled (checkpoints marked). */
function uploaderFor(row: Row, p: Prepared, h: Holding, endedCleanly: () => boolean): Uploader {
  const { cfg, ctx } = row;
  // A resume point is a checkpoint sent while the solver ran (settled, or the one asked for at a stop),
  // or by the final sweep of a solver that ended cleanly: one a stopped or crashed solver was still
  // writing goes up as an output, never as a resume point (the demo's attempt 2 once resumed from one).
  const checkpoint = (o: UploadOutcome) =>
    p.checkpoint?.files.matches(o.rel) === true && (o.live === true || endedCleanly());
  return new Uploader({
    store: row.output,
    dir: cfg.workdir,
    prefix: cfg.output,
    filesInFlight: cfg.transfer.filesInFlight,
    smallInFlight: cfg.transfer.smallInFlight,
    memory: cfg.transfer.memory,
    log: row.log,
    signal: ctx.hardStop,
    existing: h.existing,
    fence: () => h.lease.fence(),
    onVerified: (o) =>
      void h.journal.record({
        path: o.rel,
        size: o.size,
        etag: o.etag ?? '',
        sha256: o.sha256 ?? '',
        ...(checkpoint(o) ? { checkpoint: true } : {}),
      }),
  });
}

/**
 * The solver runs under its launcher, its output streamed live, while settled outputs go up; when it
 * ends (and every process it left is stopped), the final sweep uploads the rest. This stage owns the
 * uploader, the live upload and the watch on stop signals and notices: built, started, stopped and
 * drained here, on every path.
 */
export async function solve(row: Row, p: Prepared, f: Fetched, h: Holding): Promise<Solved> {
  const { cfg, ctx } = row;
  let cleanly = false;
  const uploader = uploaderFor(row, p, h, () => cleanly);
  const notOut = notOutput(p.job, p.own);
  // The checkpoint trigger asks for a checkpoint: never uploaded, so a later attempt never finds one.
  const skip = (rel: string) => notOut(rel) || rel === p.checkpoint?.trigger || cfg.exclude(rel);
  const live = cfg.liveUpload ? liveUpload(row, p, f, uploader, skip) : undefined;
  const guard = guardStops(row, p, uploader, h.journal);
  try {
    const beat = () => heartbeat(row, h, uploader, live);
    const solver = await runWatched(row, p, f, live, guard.signal, beat).finally(() => guard.end());
    cleanly = solver.exitCode === 0 && !solver.signal && !ctx.stop.aborted && guard.stopped() === undefined;
    if (live && live.uploaded > 0)
      row.log.info(`${live.uploaded} file(s) were uploaded while the solver ran (${formatBytes(uploader.bytes)})`);
    let progress: PhaseProgress | undefined;
    const sweep = await finalSweep({
      dir: cfg.workdir,
      baseline: f.baseline,
      uploadAll: cfg.uploadAll,
      skip,
      uploader,
      live,
      holders: () => heldOpenOutside(cfg.workdir),
      log: row.log,
      onPlan: (files, bytes) => (progress = ctx.progress.start('upload', { files, bytes })),
    });
    if (progress) ctx.progress.end(progress);
    warnNotUploaded(row, sweep);
    await removeDeleted(row, uploader, sweep);
    const signal = ctx.stop.aborted ? (ctx.stop.reason as { signal?: string } | undefined)?.signal : undefined;
    return { solver, sweep, stopped: guard.stopped() ?? (signal ? `stopped by ${signal}` : undefined) };
  } finally {
    await live?.stopWatching();
    await live?.drain();
    await uploader.growing.drop(); // what no upload finished (a file deleted, a run stopped)
  }
}

function liveUpload(row: Row, p: Prepared, f: Fetched, uploader: Uploader, skip: (rel: string) => boolean) {
  const local = writersAreLocal(row.cfg.mpi, row.ctx.env);
  return new LiveUpload(uploader, {
    writing: () => {
      const w = openForWriting(row.cfg.workdir, runPids());
      return { paths: new Set(w.paths), all: local && w.unreadable.length === 0 };
    },
    first: (rel) => p.checkpoint?.files.matches(rel) === true,
    dir: row.cfg.workdir,
    baseline: f.baseline,
    uploadAll: row.cfg.uploadAll,
    skip,
    settleMs: row.cfg.settleSeconds * 1000,
    log: row.log,
    progress: row.ctx.progress.start('live upload', {}, { lines: false }),
  });
}

/** The solver under its launcher, the live upload watching meanwhile; every process of the run ended. */
async function runWatched(
  row: Row,
  p: Prepared,
  f: Fetched,
  live: LiveUpload | undefined,
  stop: AbortSignal,
  beat: () => Heartbeat,
): Promise<SolverResult> {
  const { cfg, ctx, log } = row;
  for (const n of p.command.notes) log.info(n);
  log.info(
    `launching: ${[p.command.file, ...p.command.args].join(' ')} (${f.result.files.length} input files in place)`,
  );
  live?.start();
  const heart = beat().start();
  const solved = await runSolver(p.command, cfg.workdir, { ...ctx.env, ...f.solverEnv }, log, {
    signal: stop,
    hardStop: ctx.hardStop,
    graceMs: cfg.graceSeconds * 1000,
    mark: randomUUID(),
    keepCredentials: cfg.solverEnvCredentials,
  }).finally(() => Promise.all([live?.stopWatching(), heart.stop()]));
  if (solved.startError)
    log.error(
      `solve: ${solved.startError}\n  hint: check the solver's #! line and its permissions; ` +
        'run it by hand in the run directory to see',
    );
  else
    log.info(
      `solver ended after ${(solved.ms / 1000).toFixed(1)} s: ` +
        (solved.signal ? `signal ${solved.signal}` : `exit code ${solved.exitCode}`),
    );
  if (live?.progress) ctx.progress.end(live.progress);
  return solved;
}

/** The heartbeat of the solver's run: its line every few minutes, then the run log so far to the prefix. */
function heartbeat(row: Row, h: Holding, up: Uploader, live: LiveUpload | undefined): Heartbeat {
  const { cfg, ctx, log } = row;
  const logCopy = new RunLogCopy({
    store: row.output,
    prefix: cfg.output,
    file: join(cfg.workdir, RUN_LOG),
    log,
    fence: () => h.lease.fence(),
    signal: ctx.hardStop,
  });
  return new Heartbeat({
    log,
    everyMs: heartbeatMs(ctx.env),
    startedAt: Date.now(),
    uploads: live && (() => ({ files: live.progress?.files ?? 0, bytes: up.bytes, last: live.last })),
    leaseRenewal: () => h.lease.lastRenewal,
    after: () => logCopy.update(),
  });
}

function warnNotUploaded(row: Row, sweep: SweepResult): void {
  for (const l of sweep.last.symlinks) row.log.warn(`not uploading symbolic link ${l} (links are never followed)`);
  // (the scans skip these names, so the run directory itself is asked)
  for (const n of RESERVED_OUTPUT)
    if (existsSync(join(row.cfg.workdir, n)))
      row.log.warn(`not uploading ./${n}: the name is reserved for ferry's own ${n} in the output prefix`);
}

/** Files uploaded while the solver ran and deleted by it since: their objects go, if nobody replaced them. */
async function removeDeleted(row: Row, up: Uploader, sweep: SweepResult): Promise<void> {
  for (const { rel, etag } of sweep.deletedAfterLive) {
    if (sweep.outcomes.has(rel)) continue; // made again since, and uploaded again: it stays
    const uri = formatUri(under(up.prefix, rel));
    try {
      if (await up.remove(rel, etag))
        row.log.info(`removed ${uri}: uploaded while the solver ran, deleted by it since`);
      else row.log.warn(`not removing ${uri}: it was replaced in the store since this run uploaded it`);
    } catch (err) {
      row.log.warn(`could not remove ${uri}: ${describeError(err)}`);
    }
  }
}
