import { join } from 'node:path';
import { describeError, EXIT, isAbort, signalExit } from '../errors.ts';
import { formatUri, under } from '../location.ts';
import { MANIFEST, RUN_LOG, RUN_LOG_OBJECT, SUCCESS } from '../names.ts';
import type { FileState } from '../phases/outputs.ts';
import { scanTree } from '../phases/outputs.ts';
import { markSuccess, putManifest, type Manifest } from '../phases/manifest.ts';
import { uploadRunLog } from '../phases/run-log.ts';
import type { UploadOutcome } from '../phases/upload.ts';
import { planWipe } from '../phases/wipe.ts';
import { versionLine } from '../version.ts';
import type { Run, RunPhase, Verdict } from './context.ts';

const KEPT_CHANGING = 'it kept changing after the solver ended';

/** The solver's own code: its exit code, 128+N for a signal, 126 when it could not start. */
export function solverExit(r: Run): number {
  const s = r.need('solved');
  return s.startError ? EXIT.cannotExec : s.signal ? signalExit(s.signal) : (s.exitCode ?? 1);
}

/** What the files came to: verified, or not with the reason; and so the run's status. */
function decide(r: Run): { verdict: Verdict; verified: UploadOutcome[] } {
  const sweep = r.need('sweep');
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
  const { key } = r.need('uploader').store.terms;
  for (const b of sweep.last.badNames) {
    notUploaded.set(b, `its name is not valid UTF-8, so no ${key} can name it: rename it`);
    r.log.error(`not uploading ${b}: its name is not valid UTF-8 (${key}s are UTF-8); it stays in the run directory`);
  }
  for (const [rel, why] of sweep.last.unreadable ?? []) {
    notUploaded.set(rel, why);
    r.log.error(`not uploading ${rel}: ${why}; it stays in the run directory`);
  }
  const incomplete = notUploaded.size > 0 || r.ctx.stop.aborted || r.need('lease').lost;
  const status = incomplete ? 'incomplete' : solverExit(r) === 0 ? 'complete' : 'solver-failed';
  return { verdict: { status, notUploaded, failedExit }, verified };
}

function buildManifest(r: Run, verdict: Verdict, verified: UploadOutcome[], kept: Manifest['kept']): Manifest {
  const solved = r.need('solved');
  const launch = r.need('launch');
  const startError = solved.startError ? { start_error: solved.startError } : {};
  return {
    ferry: versionLine(),
    run_id: r.need('state').runId,
    status: verdict.status,
    started_at: r.startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    inputs: r.need('fetched').inputs,
    solver: {
      argv: [launch.file, ...launch.args],
      exit_code: solved.exitCode ?? null,
      signal: solved.signal ?? null,
      ...startError,
    },
    outputs: verified
      .map((o) => ({ path: o.rel, size: o.size, sha256: o.sha256 ?? '', etag: o.etag ?? '' }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
    not_uploaded: [...verdict.notUploaded].map(([path, error]) => ({ path, error })),
    kept,
  };
}

/**
 * Uploads the run log next to the manifest (best effort: the log is not an output, and a run whose
 * outputs are verified does not fail for it). Lines logged after this one stay in the local log.
 */
async function uploadLog(r: Run): Promise<void> {
  const dest = formatUri(under(r.cfg.output, RUN_LOG_OBJECT));
  r.log.info(`uploading this log to ${dest} (later lines stay in the local ${RUN_LOG} only)`);
  try {
    const n = await uploadRunLog(await r.output(), r.cfg.output, join(r.cfg.workdir, RUN_LOG), r.ctx.hardStop);
    r.log.detail(`uploaded ${RUN_LOG} (${n} bytes) to ${dest}, verified`);
  } catch (err) {
    r.log.warn(
      `could not upload ${RUN_LOG} to ${dest}: ${describeError(err)}\n  the outputs are verified; the run goes on`,
    );
  }
}

/**
 * Writes the manifest, then the run log next to it, then — for a complete run — `_SUCCESS`, the last
 * object under the prefix (so nothing there changes once it claims to be complete); false when the
 * manifest or `_SUCCESS` could not be written.
 */
export async function writeManifest(r: Run, manifest: Manifest): Promise<boolean> {
  const { cfg, ctx } = r;
  try {
    const store = await r.output();
    await putManifest(store, cfg.output, manifest, ctx.hardStop);
    r.log.info(`wrote ${formatUri(under(cfg.output, MANIFEST))} (status ${manifest.status})`);
    await uploadLog(r);
    if (manifest.status === 'complete') {
      await markSuccess(store, cfg.output, ctx.hardStop);
      r.log.info(`wrote ${formatUri(under(cfg.output, SUCCESS))}: the prefix is complete`);
    }
    return true;
  } catch (err) {
    if (isAbort(err) && ctx.hardStop.aborted)
      r.log.warn(`second signal: ${formatUri(under(cfg.output, MANIFEST))} was not written; nothing was deleted`);
    else r.log.error(`${describeError(err)}\n  nothing was deleted; re-run the same row`);
    return false;
  }
}

/**
 * Decides the run's status, plans the wipe (so the manifest can list what stays), and writes the
 * manifest, the run log, and `_SUCCESS` last, only for a complete run.
 */
export const manifest: RunPhase = {
  name: 'manifest',
  reads: ['sweep', 'solved', 'state', 'own', 'inputs', 'named', 'lease', 'fetched', 'launch'],
  adds: ['verdict', 'plan', 'manifest', 'manifestWritten'],
  async run(r) {
    const { verdict, verified } = decide(r);
    const uploaded = new Map<string, FileState>(verified.flatMap((o) => (o.state ? [[o.rel, o.state]] : [])));
    const state = r.need('state');
    const last = r.need('sweep').last;
    const scan = await scanTree(r.cfg.workdir, undefined, last.files);
    last.files.clear(); // the plan holds what the wipe needs: 100,000 names need not be held twice
    const plan = planWipe({
      scan,
      inputs: r.need('inputs'),
      uploaded,
      named: r.need('named').top,
      own: r.need('own'),
      preFiles: state.files,
      preDirs: state.dirs,
      notUploaded: verdict.notUploaded,
    });
    const kept = r.cfg.wipeAll ? [] : plan.kept;
    r.manifest = buildManifest(r, verdict, verified, kept);
    if (kept.length > 0) {
      const few =
        kept
          .slice(0, 5)
          .map((k) => k.path)
          .join(', ') + (kept.length > 5 ? ', …' : '');
      r.log.warn(
        `${kept.length} file(s) stay in the run directory (not created by the run, or not accounted for): ` +
          `${few} (listed in the manifest)`,
      );
      for (const k of kept) r.log.detail(`kept ${k.path}: ${k.reason}`);
    }
    r.verdict = verdict;
    r.plan = plan;
    r.manifestWritten = await writeManifest(r, r.manifest);
  },
  async dry(r) {
    r.report.push(`  never: ${[...r.need('named').anywhere, RUN_LOG].join(', ')}, ferry's own files, symbolic links`);
    r.report.push(
      `  then ${formatUri(under(r.cfg.output, MANIFEST))}, the run log as ${RUN_LOG_OBJECT}, ` +
        `and ${SUCCESS} last if the solver exits 0 and every file is verified`,
    );
  },
};
