import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { execa } from 'execa';
import { usageError } from '../errors.ts';
import type { Log } from '../log.ts';
import type { MpiSettings } from '../config.ts';
import { buildLaunch, detectFlavor, type Launch, type MpiFlavor } from '../mpi/launch.ts';
import { descendants, findMarked, isAlive, killTree, stopProcesses, type Proc } from '../mpi/process-tree.ts';

/** Set in the solver's environment: every process the run started carries it, wherever it goes. */
export const RUN_MARK = 'FERRY_RUN_MARK';
/** Credentials ferry uses that the solver does not get (unless --solver-env-credentials). */
const CREDENTIAL_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN'];

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
  /** Pass AWS_* credentials on to the solver (--solver-env-credentials). */
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
      `${what} '${cmd}' was not found ${cmd.includes('/') ? `at ${resolve(cwd, cmd)}` : 'on PATH'} or is not executable`,
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
  return `${file} could not be started (${code}): ${why[code] ?? String((r.cause as Error | undefined)?.message ?? code)}`;
}

/**
 * Runs the launcher in `cwd`, streaming its stdout/stderr live through the log. On `signal`
 * the received signal is forwarded to the launcher (mpirun passes it to the ranks). If the solver
 * is still running after `graceMs`, or on `hardStop` (a second signal), the launcher and every
 * process below it are killed: a group kill would miss Open MPI ranks, which sit in their own
 * process groups, and killing only mpirun would orphan them.
 * Once the launcher has exited, every process of the run still alive (found by the run mark in its
 * environment, or seen below the launcher while it ran) is stopped: SIGTERM, `graceMs`, SIGKILL.
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
  // Processes seen below the launcher: found again after it exits even if they cleared the mark.
  const seen = new Map<string, Proc>();
  const track = () => {
    if (child.pid === undefined) return;
    for (const p of descendants(child.pid)) if (p.pid !== child.pid) seen.set(`${p.pid}:${p.start}`, p);
  };
  const tracker = setInterval(track, 1000);
  let killTimer: NodeJS.Timeout | undefined;
  const killAll = (why: string) => {
    if (child.pid === undefined || child.exitCode !== null) return;
    log.warn(`${why}: killing the solver and every process it started`);
    killTree(child.pid, 'SIGKILL');
    for (const p of findMarked(RUN_MARK, opts.mark)) killTree(p.pid, 'SIGKILL');
  };
  const onAbort = () => {
    const sig = (opts.signal?.reason as { signal?: NodeJS.Signals } | undefined)?.signal ?? 'SIGTERM';
    log.info(`forwarding ${sig} to the solver; waiting up to ${Math.round(opts.graceMs / 1000)} s for it to stop`);
    child.kill(sig);
    killTimer = setTimeout(() => killAll('the solver did not stop within the grace time'), opts.graceMs);
  };
  const onHard = () => killAll('second signal');
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  opts.hardStop?.addEventListener('abort', onHard, { once: true });
  track();
  const r = await child;
  log.flushSolver();
  clearInterval(tracker);
  clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  opts.hardStop?.removeEventListener('abort', onHard);
  const ms = Date.now() - started;
  const leftovers = await stopLeftovers([...seen.values()], opts, log);
  return { exitCode: r.exitCode, signal: r.signal, startError: startFailure(r, launch.file), ms, leftovers };
}

/** Stops what the run left running, so that nothing writes into the run directory after the final sweep. */
async function stopLeftovers(tracked: Proc[], opts: SolveOptions, log: Log): Promise<Proc[]> {
  const byKey = new Map<string, Proc>();
  for (const p of [...findMarked(RUN_MARK, opts.mark), ...tracked.filter(isAlive)]) byKey.set(`${p.pid}:${p.start}`, p);
  const left = [...byKey.values()];
  if (left.length === 0) return [];
  for (const p of left)
    log.warn(
      `process ${p.pid} (${p.command}) was started by the run and still runs after the launcher exited: stopping it`,
    );
  const grace = opts.hardStop?.aborted ? 0 : opts.graceMs;
  const killed = await stopProcesses(left, grace, opts.hardStop);
  for (const p of killed)
    log.warn(`process ${p.pid} (${p.command}) did not stop on SIGTERM within ${Math.round(grace / 1000)} s: killed`);
  log.info(`${left.length} leftover process(es) of the run stopped before the final upload`);
  return left;
}
