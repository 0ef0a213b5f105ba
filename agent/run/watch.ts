import { randomUUID } from 'node:crypto';
import { formatBytes } from '../log.ts';
import { runSolver } from '../phases/solve.ts';
import type { RunPhase } from './context.ts';

/**
 * The solver runs under its launcher, its output streamed live; settled outputs go up meanwhile.
 * When it ends, every process it left behind is stopped before anything else happens.
 */
export const watch: RunPhase = {
  name: 'watch',
  reads: ['launch', 'fetched', 'uploader', 'live'],
  adds: ['solved'],
  async run(r) {
    const { cfg, ctx } = r;
    const launch = r.need('launch');
    const live = r.live;
    for (const n of launch.notes) r.log.info(n);
    r.log.info(
      `launching: ${[launch.file, ...launch.args].join(' ')} (${r.need('fetched').files.length} input files in place)`,
    );
    live?.start();
    const solved = await runSolver(launch, cfg.workdir, ctx.env, r.log, {
      signal: ctx.stop,
      hardStop: ctx.hardStop,
      graceMs: cfg.graceSeconds * 1000,
      mark: randomUUID(),
      keepCredentials: cfg.solverEnvCredentials,
    }).finally(() => live?.stopWatching());
    r.solved = solved;
    if (solved.startError)
      r.log.error(
        `solve: ${solved.startError}\n  hint: check the solver's #! line and its permissions; ` +
          'run it by hand in the run directory to see',
      );
    else
      r.log.info(
        `solver ended after ${(solved.ms / 1000).toFixed(1)} s: ` +
          (solved.signal ? `signal ${solved.signal}` : `exit code ${solved.exitCode}`),
      );
    if (live && live.done.size > 0)
      r.log.info(
        `${live.done.size} file(s) were uploaded while the solver ran (${formatBytes(r.need('uploader').bytes)})`,
      );
    if (live?.progress) ctx.progress.end(live.progress);
  },
  async dry(r) {
    r.report.push(
      r.cfg.liveUpload
        ? `  while the solver runs: files unchanged for ${r.cfg.settleSeconds} s`
        : '  only after the solver exits (--no-live-upload)',
    );
  },
};
