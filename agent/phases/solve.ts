import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { execa } from 'execa';
import { usageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { CREDENTIAL_VARS } from '../secrets.ts';
import type { MpiSettings } from '../config.ts';
import { buildLaunch, detectFlavor, type Launch, type MpiFlavor } from '../mpi/launch.ts';
import type { Proc } from '../mpi/process-tree.ts';
import { stopLeftovers, supervise } from './supervise.ts';

/** Set in the solver's environment: every process the run started carries it, wherever it goes. */
export const RUN_MARK = 'FERRY_RUN_MARK';

export interface SolverResult {
  exitCode?: number;
  /** The signal that ended the launcher, if one did. */
  signal?: string;
  /** The launcher could not be started at all (missing #! interpreter, not executable…). */
  startError?: string;
  ms: number;
  /** Processes of the run still alive after the launcher exited, stopped before the final sweep. */
  leftovers: Proc[];
}

export interface SolveOptions {
  signal?: AbortSignal;
  hardStop?: AbortSignal;
  graceMs: number;
  /** A value unique to this attempt, set as RUN_MARK in the solver's environment. */
  mark: string;
  /** Pass the store credentials (AWS_*, AZURE_*) on to the solver (--solver-env-credentials). */
  keepCredentials?: boolean;
}

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
 * The launcher command line for the solver: with MPI, the launcher is found on PATH and its flavor
 * asked (`mpirun --version`) before anything is downloaded. `checkSolver` also requires the solver to
 * be found now (a dry run only notes it: the input may bring it).
 */
export async function planLaunch(
  mpi: MpiSettings,
  solver: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<Launch> {
  if (!mpi.enabled) return buildLaunch(mpi, solver, 'unknown', { isRoot: false, env });
  checkCommand(
    mpi.mpirun,
    'MPI launcher',
    cwd,
    env,
    'install Open MPI or MPICH, pass --mpirun PATH, or --no-mpi to run the solver directly',
  );
  return buildLaunch(mpi, solver, await mpiFlavor(mpi.mpirun, env), { isRoot: process.getuid?.() === 0, env });
}

/** The solver's environment: ferry's own, the launcher's additions, the run mark, minus credentials. */
export function solverEnv(
  env: NodeJS.ProcessEnv,
  launch: Launch,
  o: Pick<SolveOptions, 'mark' | 'keepCredentials'>,
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, ...launch.env, [RUN_MARK]: o.mark };
  if (!o.keepCredentials) for (const v of CREDENTIAL_VARS) delete out[v];
  return out;
}

function startFailure(
  r: { failed?: boolean; exitCode?: number; signal?: string; cause?: unknown },
  file: string,
): string | undefined {
  if (!r.failed || r.exitCode !== undefined || r.signal !== undefined) return undefined;
  const code = (r.cause as { code?: string } | undefined)?.code ?? 'unknown error';
  const why: Record<string, string> = {
    ENOENT: 'the program or the interpreter on its #! line does not exist',
    EACCES: 'it is not executable (or its #! interpreter is not)',
    ENOEXEC: 'it is not a program this machine can run (a script without a #! line, or another architecture)',
  };
  const detail = why[code] ?? String((r.cause as Error | undefined)?.message ?? code);
  return `${file} could not be started (${code}): ${detail}`;
}

/**
 * Runs the launcher in `cwd`, streaming its stdout/stderr live through the log; signals are
 * forwarded and the grace time kept (supervise.ts). Once the launcher has exited, every process of
 * the run still alive is stopped before the result is returned.
 */
export async function runSolver(
  launch: Launch,
  cwd: string,
  env: NodeJS.ProcessEnv,
  log: Log,
  opts: SolveOptions,
): Promise<SolverResult> {
  const started = Date.now();
  const child = execa(launch.file, launch.args, {
    cwd,
    env: solverEnv(env, launch, opts),
    extendEnv: false,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    forceKillAfterDelay: false,
  });
  child.stdout?.on('data', (b: Buffer) => log.solver(b, 'stdout'));
  child.stderr?.on('data', (b: Buffer) => log.solver(b, 'stderr'));
  const supervisor = supervise(child, { ...opts, markName: RUN_MARK }, log);
  const r = await child;
  log.flushSolver();
  supervisor.done();
  const ms = Date.now() - started;
  const leftovers = await stopLeftovers(supervisor.seen(), { ...opts, markName: RUN_MARK }, log);
  return { exitCode: r.exitCode, signal: r.signal, startError: startFailure(r, launch.file), ms, leftovers };
}
