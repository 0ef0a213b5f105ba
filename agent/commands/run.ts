import { join } from 'node:path';
import { runConfig } from '../config.ts';
import { isLocalIoError, localIoError } from '../errors.ts';
import { formatBytes, formatRate } from '../log.ts';
import { formatUri } from '../location.ts';
import { RUN_LOG } from '../names.ts';
import { lockRunDir } from '../phases/run-lock.ts';
import type { PhaseProgress } from '../progress.ts';
import { Run } from '../run/context.ts';
import { runPhases } from '../run/phases.ts';
import { versionLine } from '../version.ts';
import { openStores, type CommandContext } from './context.ts';
import { RUN } from './run/spec.ts';
import { parseFor } from './spec.ts';

/** One line: bytes, files and rates per phase, solver time, wall time. */
function summary(phases: PhaseProgress[], solverMs: number, wallMs: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const parts = phases
    .filter((p) => p.files > 0 || p.bytes > 0)
    .map((p) => `${p.phase} ${p.files} file(s) ${formatBytes(p.bytes)} in ${s(p.ms)} (${formatRate(p.bytes, p.ms)})`);
  return `summary: ${[...parts, `solver ${s(solverMs)}`, `wall ${s(wallMs)}`].join('; ')}`;
}

/**
 * `ferry run`: the configuration, the run directory's lock (a second ferry there exits 75 before
 * writing anything), the run log, then the run's phases in order (agent/run/phases.ts):
 * prepare → fetch → launch → watch (solver + live upload) → final sweep → manifest → wipe.
 */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const cfg = runConfig(parseFor(RUN, ctx.argv), ctx.env, ctx.cwd);
  const stores = openStores(ctx, cfg.stores, cfg.transfer);
  if (cfg.dryRun) {
    const dry = new Run(cfg, ctx, stores, true);
    try {
      await runPhases(dry);
    } finally {
      await stores.close();
    }
    process.stdout.write(`${dry.report.join('\n')}\n`);
    return 0;
  }
  const lock = lockRunDir(cfg.workdir);
  const run = new Run(cfg, ctx, stores, false);
  try {
    ctx.log.attachFile(join(cfg.workdir, RUN_LOG));
  } catch (err) {
    lock.release();
    throw localIoError(err, 'config', join(cfg.workdir, RUN_LOG));
  }
  try {
    ctx.log.info(versionLine());
    ctx.log.info(
      `run dir ${cfg.workdir}; input ${cfg.inputs.map(formatUri).join(', ')}; output ${formatUri(cfg.output)}`,
    );
    const code = await runPhases(run);
    const solverMs = run.solved?.ms ?? 0;
    ctx.log.info(summary(ctx.progress.done, solverMs, Date.now() - run.startedAt.getTime()), {
      phases: ctx.progress.done.map((p) => p.fields()),
      solver_ms: solverMs,
      status: run.verdict?.status,
    });
    return code;
  } catch (err) {
    throw isLocalIoError(err) && !ctx.stop.aborted ? localIoError(err, 'solve', cfg.workdir) : err;
  } finally {
    await run.lease?.release();
    await stores.close();
    lock.release();
  }
}
