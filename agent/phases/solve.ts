import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { execa } from 'execa';
import { usageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { detectFlavor, type Launch, type MpiFlavor } from '../mpi/launch.ts';
import { killTree } from '../mpi/process-tree.ts';

export interface SolverResult {
  exitCode?: number;
  /** The signal that ended the launcher, if one did. */
  signal?: string;
  ms: number;
}

/** The executable `cmd` resolves to from `cwd` with `PATH`, or undefined. */
export function which(cmd: string, cwd: string, path: string | undefined): string | undefined {
  const candidates = cmd.includes('/') ? [isAbsolute(cmd) ? cmd : resolve(cwd, cmd)] : (path ?? '').split(delimiter).filter(Boolean).map((d) => join(resolve(cwd, d), cmd));
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
  if (!found) throw usageError(`${what} '${cmd}' was not found ${cmd.includes('/') ? `at ${resolve(cwd, cmd)}` : 'on PATH'} or is not executable`, hint);
  return found;
}

/**
 * Runs the launcher in `cwd`, streaming its stdout/stderr live through the log. On `signal`
 * the received signal is forwarded to the launcher (mpirun passes it to the ranks). If the solver
 * is still running after `graceMs`, or on `hardStop` (a second signal), the launcher and every
 * process below it are killed: a group kill would miss Open MPI ranks, which sit in their own
 * process groups, and killing only mpirun would orphan them.
 */
export async function runSolver(
  launch: Launch,
  cwd: string,
  env: NodeJS.ProcessEnv,
  log: Log,
  opts: { signal?: AbortSignal; hardStop?: AbortSignal; graceMs: number },
): Promise<SolverResult> {
  const started = Date.now();
  const child = execa(launch.file, launch.args, {
    cwd,
    env: { ...env, ...launch.env },
    extendEnv: false,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    forceKillAfterDelay: false,
  });
  child.stdout?.on('data', (b: Buffer) => log.solver(b, 'stdout'));
  child.stderr?.on('data', (b: Buffer) => log.solver(b, 'stderr'));
  let killTimer: NodeJS.Timeout | undefined;
  const killAll = (why: string) => {
    if (child.pid === undefined || child.exitCode !== null) return;
    log.warn(`${why}: killing the solver and every process it started`);
    killTree(child.pid, 'SIGKILL');
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
  const r = await child;
  clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  opts.hardStop?.removeEventListener('abort', onHard);
  return { exitCode: r.exitCode, signal: r.signal, ms: Date.now() - started };
}
