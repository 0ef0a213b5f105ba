import { formatUri } from '../location.ts';
import { RESERVED_OUTPUT } from '../names.ts';
import { LiveUpload } from '../phases/live-upload.ts';
import { prepareOutput } from '../phases/prepare-output.ts';
import { Uploader } from '../phases/upload.ts';
import type { Run, RunPhase } from './context.ts';
import { checkSolver } from './prepare.ts';

/** Files that are never outputs: ferry's own, the job's own (credentials, ferry itself), reserved names. */
export function notOutput(r: Run): (rel: string) => boolean {
  const job = r.need('named').anywhere;
  const own = r.need('own');
  return (rel) => own.isOwn(rel) || job.has(rel) || RESERVED_OUTPUT.has(rel);
}

/**
 * Ready to launch: the solver is found, the output prefix is prepared (what an earlier attempt left,
 * its _SUCCESS withdrawn, unfinished uploads aborted), and the uploader and live upload are wired.
 */
export const launch: RunPhase = {
  name: 'launch',
  reads: ['named', 'own', 'baseline', 'launch'],
  adds: ['uploader', 'live'],
  async run(r) {
    const { cfg, ctx } = r;
    checkSolver(r);
    const store = await r.output();
    const existing = await prepareOutput(store, cfg.output, r.log, ctx.stop);
    r.uploader = new Uploader({
      store,
      dir: cfg.workdir,
      prefix: cfg.output,
      filesInFlight: cfg.transfer.filesInFlight,
      smallInFlight: cfg.transfer.smallInFlight,
      memory: cfg.transfer.memory,
      log: r.log,
      signal: ctx.hardStop,
      existing,
    });
    if (!cfg.liveUpload) return;
    const progress = ctx.progress.start('live upload');
    const settleMs = cfg.settleSeconds * 1000;
    r.live = new LiveUpload(r.uploader, {
      dir: cfg.workdir,
      baseline: r.need('baseline'),
      uploadAll: cfg.uploadAll,
      skip: notOutput(r),
      settleMs,
      log: r.log,
      progress,
    });
  },
  async dry(r) {
    const l = r.need('launch');
    r.report.push('', 'launch:', `  ${[l.file, ...l.args].join(' ')}`, ...l.notes.map((n) => `  (${n})`));
    try {
      checkSolver(r);
    } catch {
      r.report.push(
        `  note: '${r.cfg.solver[0]}' is not found now; it must come from the input or be on PATH on the node`,
      );
    }
    const existing = await (await r.output()).list(r.cfg.output, { phase: 'upload', signal: r.ctx.stop });
    r.report.push(
      '',
      'upload:',
      `  every file the run creates or changes → ${formatUri(r.cfg.output)}<path>` +
        (r.cfg.uploadAll ? ' (--upload-all: every file in the run directory)' : ''),
    );
    if (existing.length > 0)
      r.report.push(
        `  the prefix already holds ${existing.length} object(s): files with the same bytes are not sent again`,
      );
  },
};
