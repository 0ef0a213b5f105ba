import { spawn, type ChildProcess } from 'node:child_process';
import type { Log } from '../log.ts';
import type { SolverCommand } from './mpi.ts';
import type { Proc } from './process-tree.ts';
import { HELPER_MARK, RunProcesses } from './run-processes.ts';
import { RUN_MARK, solverEnv } from './env.ts';
import { stopLeftovers, supervise } from './supervise.ts';

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

/** Why the launcher could not be started at all (spawn's error: missing #! interpreter, not executable…). */
function startFailure(err: NodeJS.ErrnoException, file: string): string {
  const code = err.code ?? 'unknown error';
  const why: Record<string, string> = {
    ENOENT: 'the program or the interpreter on its #! line does not exist',
    EACCES: 'it is not executable (or its #! interpreter is not)',
    ENOEXEC: 'it is not a program this machine can run (a script without a #! line, or another architecture)',
  };
  return `${file} could not be started (${code}): ${why[code] ?? err.message}`;
}

/** After the launcher exits, what is still in its pipes is read for at most this long. */
export const DRAIN_MS = 1000;

/** How the launcher ended: its exit code or signal, or why it could not start. */
type Ended = { exitCode?: number; signal?: string; startError?: string };

function ended(child: ChildProcess, file: string): Promise<Ended> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ exitCode: code ?? undefined, signal: signal ?? undefined }));
    child.once('error', (err) => {
      if (child.pid === undefined) resolve({ startError: startFailure(err, file) }); // else a failed kill: no end
    });
  });
}

/**
 * The run ends when the launcher exits, whatever holds its pipes: what they still buffer is read for
 * DRAIN_MS at most, then ferry stops reading (a helper it left may hold them open for ever).
 */
async function drain(child: ChildProcess, log: Log): Promise<void> {
  const pipes = [child.stdout, child.stderr].filter((p): p is NonNullable<typeof p> => !!p);
  const closed = Promise.all(pipes.map((p) => (p.closed ? undefined : new Promise((r) => p.once('close', r)))));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'open'>((r) => (timer = setTimeout(() => r('open'), DRAIN_MS)));
  const open = (await Promise.race([closed, late])) === 'open';
  clearTimeout(timer);
  if (open)
    log.warn(
      'the launcher exited, but a process it left still holds its output open: ferry stops reading it ' +
        '(what it writes from now on is not in ferry.log)',
    );
  for (const p of pipes) p.destroy();
  log.flushSolver();
}

/**
 * Runs the launcher in `cwd`, streaming its stdout/stderr live through the log; signals are
 * forwarded and the grace time kept (supervise.ts). The run ends when the launcher exits: then every
 * process of the run still alive is stopped (and reaped) before the result is returned.
 */
export async function runSolver(
  launch: SolverCommand,
  cwd: string,
  env: NodeJS.ProcessEnv,
  log: Log,
  opts: SolveOptions,
): Promise<SolverResult> {
  const started = Date.now();
  const procs = RunProcesses.start((msg) => log.warn(msg));
  const child = spawn(launch.file, launch.args, {
    cwd,
    env: solverEnv(env, launch, { ...opts, own: [HELPER_MARK] }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => log.solver(b, 'stdout'));
  child.stderr?.on('data', (b: Buffer) => log.solver(b, 'stderr'));
  const o = { ...opts, markName: RUN_MARK };
  const supervisor = supervise(child, o, log, procs);
  const r = await ended(child, launch.file);
  await drain(child, log);
  supervisor.done();
  const ms = Date.now() - started;
  const leftovers = await stopLeftovers(procs, supervisor.seen(), o, log);
  procs.reap();
  return { ...r, ms, leftovers };
}
