import { realpathSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { isPacFile, type RunConfig } from '../config.ts';
import { isOwnFile } from '../names.ts';
import { Lease, LEASE_TTL_MS } from '../phases/lease.ts';
import { scanTree } from '../phases/outputs.ts';
import { loadRunState } from '../phases/run-state.ts';
import { checkCommand, planLaunch } from '../phases/solve.ts';
import { selfCommand, versionLine } from '../version.ts';
import type { Run, RunPhase } from './context.ts';

/**
 * The job inputs named on the command line (--aws-config, --azure-config, --vars, --proxy-auth-file,
 * a --proxy-pac file, ferry itself) that sit at the top
 * of the run directory, as the platform stages job inputs: never uploaded, deleted by the wipe.
 * One elsewhere (a subfolder, ~/.aws) is never touched.
 */
export function namedInputs(cfg: RunConfig, env: NodeJS.ProcessEnv, cwd: string): Set<string> {
  const out = new Set<string>();
  const dir = realpathSync(cfg.workdir);
  // ferry as the job calls it (bin/ferry says how it was invoked; a link to it is ferry too)
  const invoked = env.FERRY_INVOKED ? resolve(cwd, env.FERRY_INVOKED) : undefined;
  const { s3, azure, net } = cfg.stores;
  const pacFile = isPacFile(net.pac) ? net.pac : undefined;
  const named = [s3.awsConfigFile, azure.configFile, cfg.varsFile, net.authFile, pacFile, selfCommand(env), invoked];
  for (const f of named) {
    if (!f) continue;
    let real = f;
    try {
      real = join(realpathSync(dirname(f)), basename(f)); // the name itself, not what a link points at
    } catch {
      // gone already
    }
    const rel = relative(dir, real);
    if (rel && !rel.startsWith('..') && !rel.includes(sep)) out.add(rel);
  }
  return out;
}

/**
 * Before any byte moves: what belongs to the job, this row's state (run id, files that were here
 * before), the launcher (found and asked its flavor), and the output prefix's lease.
 */
export const prepare: RunPhase = {
  name: 'prepare',
  reads: [],
  adds: ['named', 'state', 'launch', 'lease'],
  async run(r) {
    const { cfg, ctx } = r;
    r.named = namedInputs(cfg, ctx.env, ctx.cwd);
    r.state = await loadRunState(cfg.workdir, await scanTree(cfg.workdir, isOwnFile));
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
    r.named = namedInputs(r.cfg, r.ctx.env, r.ctx.cwd);
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
