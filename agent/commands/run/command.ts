import { join } from 'node:path';
import { runConfig } from '../../config.ts';
import { isLocalIoError, localIoError } from '../../errors.ts';
import { formatBytes, formatRate } from '../../log.ts';
import { formatUri } from '../../location.ts';
import { RUN_LOG } from '../../names.ts';
import { lockRunDir } from '../../rundir/lock.ts';
import type { PhaseProgress } from '../../transfer/progress.ts';
import { dryRun } from '../../run/dry.ts';
import { runRow } from '../../run/pipeline.ts';
import { openRow } from '../../run/row.ts';
import { versionLine } from '../../version.ts';
import { openStores, type CommandContext } from '../context.ts';
import { RUN } from './spec.ts';
import { parseFor } from '../spec.ts';

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
 * writing anything), the run log, then the row's pipeline (agent/run/pipeline.ts): prepare → fetch →
 * solve (solver + live upload + final sweep) → record (manifest) → wipe.
 */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const cfg = runConfig(parseFor(RUN, ctx.argv), ctx.env, ctx.cwd);
  const stores = openStores(ctx, cfg.stores, cfg.transfer);
  if (cfg.dryRun) {
    try {
      process.stdout.write(`${(await dryRun(await openRow(cfg, ctx, stores))).join('\n')}\n`);
    } finally {
      await stores.close();
    }
    return 0;
  }
  const lock = lockRunDir(cfg.workdir);
  try {
    ctx.log.attachFile(join(cfg.workdir, RUN_LOG));
  } catch (err) {
    lock.release();
    await stores.close();
    throw localIoError(err, 'config', join(cfg.workdir, RUN_LOG));
  }
  try {
    ctx.log.info(versionLine());
    ctx.log.info(
      `run dir ${cfg.workdir}; input ${cfg.inputs.map(formatUri).join(', ')}; output ${formatUri(cfg.output)}`,
    );
    const row = await openRow(cfg, ctx, stores);
    const end = await runRow(row);
    ctx.log.info(summary(ctx.progress.done, end.solverMs, Date.now() - row.startedAt.getTime()), {
      phases: ctx.progress.done.map((p) => p.fields()),
      solver_ms: end.solverMs,
      status: end.status,
    });
    return end.code;
  } catch (err) {
    throw isLocalIoError(err) && !ctx.stop.aborted ? localIoError(err, 'solve', cfg.workdir) : err;
  } finally {
    await stores.close();
    lock.release();
  }
}
