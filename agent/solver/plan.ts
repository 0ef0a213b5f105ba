// The solver and its launcher, found before anything is downloaded: the launcher on PATH and its
// flavor asked (`mpirun --version`), the solver on PATH or in the run directory (it may come with the
// input: then it is checked once the input is in place).
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { MpiSettings, RunConfig } from '../config.ts';
import { usageError } from '../errors.ts';
import { launcherCommand, detectFlavor, type MpiFlavor, type SolverCommand } from './mpi.ts';

/** The executable `cmd` resolves to from `cwd` with `PATH`, or undefined. */
export function which(cmd: string, cwd: string, path: string | undefined): string | undefined {
  const candidates = cmd.includes('/')
    ? [isAbsolute(cmd) ? cmd : resolve(cwd, cmd)]
    : (path ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(resolve(cwd, d), cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function mpiFlavor(mpirun: string, env: NodeJS.ProcessEnv): Promise<MpiFlavor> {
  const r = await execa(mpirun, ['--version'], { reject: false, env, timeout: 10_000, stdin: 'ignore' });
  return detectFlavor(`${r.stdout}\n${r.stderr}`);
}

export function checkCommand(cmd: string, what: string, cwd: string, env: NodeJS.ProcessEnv, hint: string): string {
  const found = which(cmd, cwd, env.PATH);
  if (!found)
    throw usageError(
      `${what} '${cmd}' was not found ${cmd.includes('/') ? `at ${resolve(cwd, cmd)}` : 'on PATH'} ` +
        'or is not executable',
      hint,
    );
  return found;
}

/**
 * The command line that starts the solver: with MPI, the launcher is found on PATH and its flavor
 * asked (`mpirun --version`) before anything is downloaded. `checkSolver` requires the solver itself
 * once the input is in place (a dry run only notes it: the input may bring it).
 */
export async function planSolver(
  mpi: MpiSettings,
  solver: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<SolverCommand> {
  if (!mpi.enabled) return launcherCommand(mpi, solver, 'unknown', { isRoot: false, env });
  checkCommand(
    mpi.mpirun,
    'MPI launcher',
    cwd,
    env,
    'install Open MPI or MPICH, pass --mpirun PATH, or --no-mpi to run the solver directly',
  );
  return launcherCommand(mpi, solver, await mpiFlavor(mpi.mpirun, env), { isRoot: process.getuid?.() === 0, env });
}

/** The solver must be there once the input is in place (it may come with the input). */
export function checkSolver(cfg: RunConfig, env: NodeJS.ProcessEnv): void {
  checkCommand(
    cfg.solver[0],
    'solver',
    cfg.workdir,
    env,
    'check the command after --: it must be on PATH or a path inside the run directory',
  );
}
