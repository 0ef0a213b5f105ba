import { FIXED_OWN, RUN_LOG, RUN_LOG_OBJECT } from '../names.ts';
import { jobInputs } from '../phases/job-inputs.ts';
import { Lease, LEASE_TTL_MS } from '../phases/lease.ts';
import { consoleFiles, OwnFiles } from '../phases/own-files.ts';
import { scanTree } from '../phases/outputs.ts';
import { loadRunState } from '../phases/run-state.ts';
import { checkCommand, planLaunch } from '../phases/solve.ts';
import { versionLine } from '../version.ts';
import type { Run, RunPhase } from './context.ts';

/**
 * Before any byte moves: what belongs to the job, this row's state (run id, files that were here
 * before), the launcher (found and asked its flavor), and the output prefix's lease.
 */
export const prepare: RunPhase = {
  name: 'prepare',
  reads: [],
  adds: ['named', 'state', 'own', 'launch', 'lease'],
  async run(r) {
    const { cfg, ctx } = r;
    r.named = jobInputs(cfg, ctx.env, ctx.cwd);
    const console = consoleFiles(cfg.workdir);
    for (const c of console)
      r.log.info(
        `ferry's own output goes to ./${c}, inside the run directory: it is ferry's file (it changes while ferry ` +
          `runs), never uploaded and kept; its lines are in ${RUN_LOG}, uploaded as ${RUN_LOG_OBJECT}`,
      );
    const scan = await scanTree(cfg.workdir, (rel) => FIXED_OWN.has(rel) || console.has(rel));
    r.state = await loadRunState(cfg.workdir, scan);
    r.own = OwnFiles.forRun(r.state.runId, console);
    if (r.state.rerun)
      r.log.info('this run directory holds an earlier attempt of this row: its outputs count as outputs');
    r.launch = await planLaunch(cfg.mpi, cfg.solver, cfg.workdir, ctx.env);
    const ttlMs = Number(ctx.env.FERRY_LEASE_TTL_SECONDS) * 1000 || LEASE_TTL_MS;
    r.lease = await Lease.acquire(await r.output(), cfg.output, {
      runId: r.state.runId,
      ferry: versionLine(),
      takeOver: cfg.takeOver,
      ttlMs,
      log: r.log,
      // Not the first signal: after it outputs are still uploaded, so the lease is renewed, and then removed.
      signal: ctx.hardStop,
    });
  },
  async dry(r) {
    r.named = jobInputs(r.cfg, r.ctx.env, r.ctx.cwd);
    r.launch = await planLaunch(r.cfg.mpi, r.cfg.solver, r.cfg.workdir, r.ctx.env);
    r.report.push(`dry run in ${r.cfg.workdir}: nothing is downloaded, run, uploaded or deleted`);
  },
};

/** The solver must be there once the input is in place (it may come with the input). */
export function checkSolver(r: Run): void {
  checkCommand(
    r.cfg.solver[0],
    'solver',
    r.cfg.workdir,
    r.ctx.env,
    'check the command after --: it must be on PATH or a path inside the run directory',
  );
}
