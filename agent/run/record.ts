import { join } from 'node:path';
import { describeError, EXIT, signalExit } from '../errors.ts';
import { RUN_LOG } from '../names.ts';
import { claim } from '../prefix/claim.ts';
import { hostname } from 'node:os';
import { everyOutput, type Listed } from '../prefix/adopt.ts';
import { journalRemoval, type AttemptInfo, type JournalView } from '../prefix/journal.ts';
import type { Lease } from '../prefix/lease.ts';
import type { RowIdentity } from '../prefix/row.ts';
import type { Manifest } from '../prefix/manifest.ts';
import { scanTree, type FileState } from '../rundir/tree.ts';
import { planWipe, type WipePlan } from '../rundir/wipe.ts';
import type { SolverResult } from '../solver/run.ts';
import type { UploadOutcome } from '../transfer/upload.ts';
import { versionLine } from '../version.ts';
import type { Fetched } from './fetch.ts';
import type { Prepared } from './prepare.ts';
import type { Row } from './row.ts';
import type { Solved } from './solve.ts';

/** What the files of a run came to, decided once the final sweep is done. */
export interface Verdict {
  status: Manifest['status'];
  /** Relative path → why it is not verified in the store. */
  notUploaded: Map<string, string>;
  /** The exit code of the first failed upload, if one failed. */
  failedExit?: number;
}

/** The run's verdict and the manifest that records it, with the wipe it plans. */
export interface Recorded {
  verdict: Verdict;
  plan: WipePlan;
  manifest: Manifest;
  /** The manifest (and, for a complete run, `_SUCCESS`) is in the store. */
  written: boolean;
  /** The run was complete, but its prefix did not read back as the manifest says: `_SUCCESS` withheld. */
  notWhole: boolean;
}

export const KEPT_CHANGING = 'it kept changing after the solver ended';
/** The end of the reason a file with a name no key can hold is not uploaded: renaming it is the fix, not a re-run. */
export const RENAME_IT = ': rename it';

/** The solver's own code: its exit code, 128+N for a signal, 126 when it could not start. */
export function solverExit(s: SolverResult): number {
  return s.startError ? EXIT.cannotExec : s.signal ? signalExit(s.signal) : (s.exitCode ?? 1);
}

/** What the files came to: verified, or not with the reason; and so the run's status. */
function decide(row: Row, s: Solved, lease: Lease): { verdict: Verdict; verified: UploadOutcome[] } {
  const { sweep } = s;
  const notUploaded = new Map<string, string>();
  const unsettled = new Set(sweep.unsettled);
  const verified: UploadOutcome[] = [];
  let failedExit: number | undefined;
  for (const o of sweep.outcomes.values()) {
    if (unsettled.has(o.rel)) notUploaded.set(o.rel, KEPT_CHANGING);
    else if (!o.verified) {
      notUploaded.set(o.rel, o.error ?? 'not verified');
      failedExit ??= o.exitCode;
    } else verified.push(o);
  }
  for (const rel of unsettled) if (!notUploaded.has(rel)) notUploaded.set(rel, KEPT_CHANGING);
  const { key } = row.output.terms;
  for (const b of sweep.last.badNames) {
    notUploaded.set(b, `its name is not valid UTF-8, so no ${key} can name it${RENAME_IT}`);
    row.log.error(`not uploading ${b}: its name is not valid UTF-8 (${key}s are UTF-8); it stays in the run directory`);
  }
  for (const [rel, why] of sweep.last.unreadable ?? []) {
    notUploaded.set(rel, why);
    row.log.error(`not uploading ${rel}: ${why}; it stays in the run directory`);
  }
  const incomplete = notUploaded.size > 0 || row.ctx.stop.aborted || lease.lost || s.stopped === 'preempted';
  const status = incomplete ? 'incomplete' : solverExit(s.solver) === 0 ? 'complete' : 'solver-failed';
  return { verdict: { status, notUploaded, failedExit }, verified };
}

/** What the record stage knows of the row beyond this attempt: its key, the lease, the journal. */
export interface RowRecord {
  id: RowIdentity;
  lease: Lease;
  /** What earlier attempts of the row journaled (read when this attempt began). */
  earlier: JournalView;
  /** This attempt's last journal segment, on its way: in the store before the claim removes the journal. */
  journaled?: Promise<void>;
  /** The outputs this attempt journaled as checkpoints (resume points). */
  checkpoints?: ReadonlySet<string>;
}

/**
 * The outputs, the resume points among them marked: this attempt's as its journal marked them, an
 * earlier attempt's as its journal did (the same object: the listing matched it by ETag).
 */
function markCheckpoints(outputs: Listed[], rr: RowRecord, self: string): Manifest['outputs'] {
  return outputs.map((o) => {
    const before = rr.earlier.entries.get(o.path);
    const cp = o.attempt === self ? rr.checkpoints?.has(o.path) : before?.checkpoint === true && before.etag === o.etag;
    return cp ? { ...o, checkpoint: true as const } : o;
  });
}

/**
 * The row's attempts before this one, oldest first: those its journal and earlier manifest name, and
 * one that died holding the lease before its first journal flush (known by its lease only).
 */
function earlierAttempts(rr: RowRecord, self: string): AttemptInfo[] {
  const earlier = rr.earlier.attempts.filter((a) => a.row === rr.id.key && a.attempt !== self);
  const dead = rr.lease.takenFrom;
  if (dead && dead.attempt !== self && !earlier.some((a) => a.attempt === dead.attempt)) {
    const { attempt, row, host, job_id, started_at } = dead;
    earlier.push({ attempt, row, host, job_id, started_at });
    earlier.sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : 0));
  }
  return earlier;
}

function buildManifest(
  row: Row,
  p: Prepared,
  f: Fetched,
  s: Solved,
  v: Verdict,
  rr: RowRecord,
  outputs: Listed[],
  kept: Manifest['kept'],
): Manifest {
  const startError = s.solver.startError ? { start_error: s.solver.startError } : {};
  const stopped = s.stopped ? { stopped: s.stopped } : {};
  const me = { attempt: p.attempt, host: hostname(), started_at: row.startedAt.toISOString() };
  const jobId = rr.id.jobId ? { job_id: rr.id.jobId } : {};
  const attempts = [...earlierAttempts(rr, p.attempt), { ...me, ...jobId }];
  return {
    ferry: versionLine(),
    run_id: p.state.runId,
    row: rr.id.key,
    attempt: p.attempt,
    status: v.status,
    started_at: row.startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    inputs: f.result.inputs,
    solver: {
      argv: [p.command.file, ...p.command.args],
      command: rr.id.solver,
      exit_code: s.solver.exitCode ?? null,
      signal: s.solver.signal ?? null,
      ...startError,
      ...stopped,
    },
    attempts: attempts.map(({ attempt, host, started_at, job_id }) => ({
      attempt,
      host,
      started_at,
      ...(job_id ? { job_id } : {}),
    })),
    outputs: markCheckpoints(outputs, rr, p.attempt),
    not_uploaded: [...v.notUploaded].map(([path, error]) => ({ path, error })),
    kept,
  };
}

/** Files the wipe leaves, said once (the first few) and each in the run log. */
function warnKept(row: Row, kept: Manifest['kept']): void {
  if (kept.length === 0) return;
  const few =
    kept
      .slice(0, 5)
      .map((k) => k.path)
      .join(', ') + (kept.length > 5 ? ', …' : '');
  row.log.warn(
    `${kept.length} file(s) stay in the run directory (not created by the run, or not accounted for): ` +
      `${few} (listed in the manifest)`,
  );
  for (const k of kept) row.log.detail(`kept ${k.path}: ${k.reason}`);
}

/**
 * Decides the run's status, plans the wipe (so the manifest can list what stays), and claims the
 * prefix: the manifest, the run log, and `_SUCCESS` last, only for a complete run.
 */
export async function record(row: Row, p: Prepared, f: Fetched, s: Solved, rr: RowRecord): Promise<Recorded> {
  const { cfg } = row;
  const { verdict, verified } = decide(row, s, rr.lease);
  const uploaded = new Map<string, FileState>(verified.flatMap((o) => (o.state ? [[o.rel, o.state]] : [])));
  const last = s.sweep.last;
  const scan = await scanTree(cfg.workdir, undefined, last.files);
  last.files.clear(); // the plan holds what the wipe needs: 100,000 names need not be held twice
  const plan = planWipe({
    scan,
    inputs: f.inputs,
    uploaded,
    named: p.job.top,
    own: p.own,
    preFiles: p.state.files,
    preDirs: p.state.dirs,
    notUploaded: verdict.notUploaded,
  });
  const kept = cfg.wipeAll ? [] : plan.kept;
  const mine = new Map(verified.map((o) => [o.rel, { size: o.size, etag: o.etag ?? '', sha256: o.sha256 ?? '' }]));
  const opts = {
    mine,
    journal: rr.earlier,
    row: rr.id.key,
    attempt: p.attempt,
    log: row.log,
    signal: row.ctx.hardStop,
  };
  // A second signal, or a store gone, may cut the listing short: the manifest then holds what this
  // attempt verified; the claim, stopped the same way, writes nothing, or its whole-check finds the
  // objects the manifest misses and withholds _SUCCESS (the wipe says what is true).
  const outputs = await everyOutput(row.output, cfg.output, opts).catch((err: unknown) => {
    if (!row.ctx.hardStop.aborted) row.log.warn(`could not list the output prefix: ${describeError(err)}`);
    return [...mine].map(([path, o]) => ({ path, ...o, attempt: p.attempt }));
  });
  const manifest = buildManifest(row, p, f, s, verdict, rr, outputs, kept);
  warnKept(row, kept);
  if (verdict.status === 'complete' && outputs.length === 0)
    row.log.warn(
      'the run made no output file: the row is complete with nothing under its output prefix but ' +
        "ferry's own objects (does the solver write somewhere else, or was the input not what it expects?)",
    );
  await rr.journaled;
  const claimed = await claimPrefix(row, manifest, rr.lease);
  const notWhole = claimed.written && claimed.status !== verdict.status; // _SUCCESS withheld
  if (claimed.status !== verdict.status) verdict.status = claimed.status;
  return { verdict, plan, manifest: claimed.manifest, written: claimed.written, notWhole };
}

/** The manifest, the run log, and `_SUCCESS` for a complete run whose prefix is whole (prefix/claim.ts). */
export function claimPrefix(row: Row, manifest: Manifest, lease: Lease) {
  const logFile = join(row.cfg.workdir, RUN_LOG);
  return claim(row.output, row.cfg.output, manifest, {
    logFile,
    log: row.log,
    signal: row.ctx.hardStop,
    fence: () => lease.fence(),
    tidy: () => journalRemoval(row.output, row.cfg.output, { phase: 'upload', signal: row.ctx.hardStop }, row.log),
  });
}
