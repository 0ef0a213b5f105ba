import type { ChildProcess } from 'node:child_process';
import type { Log } from '../log.ts';
import { descendants, findMarked, isAlive, killTree, stopProcesses, type Proc } from './process-tree.ts';
import type { RunProcesses } from './run-processes.ts';

export interface SuperviseOptions {
  signal?: AbortSignal;
  hardStop?: AbortSignal;
  graceMs: number;
  /** The environment variable and value every process of the run carries. */
  markName: string;
  mark: string;
}

const key = (p: Proc) => `${p.pid}:${p.start}`;

/**
 * Watches the launcher while it runs. On `signal` the received signal is forwarded to it (mpirun
 * passes it to the ranks); if the solver is still running after `graceMs`, or on `hardStop` (a
 * second signal), the launcher and every process below it or carrying the run's mark are killed:
 * a group kill would miss Open MPI ranks, which sit in their own process groups, and killing only
 * mpirun would orphan them. Meanwhile every process seen below the launcher is remembered, so it is
 * found again after the launcher exits even if it cleared the mark.
 */
export function supervise(
  child: ChildProcess,
  o: SuperviseOptions,
  log: Log,
  procs: RunProcesses,
): { done: () => void; seen: () => Proc[] } {
  const seen = new Map<string, Proc>();
  const track = () => {
    procs.reap(); // orphans that came to ferry and exited: no zombies pile up
    if (child.pid === undefined) return;
    for (const p of descendants(child.pid)) if (p.pid !== child.pid) seen.set(key(p), p);
  };
  const tracker = setInterval(track, 1000);
  let killTimer: NodeJS.Timeout | undefined;
  const killAll = (why: string) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    log.warn(`${why}: killing the solver and every process it started`);
    killTree(child.pid, 'SIGKILL');
    for (const p of [...findMarked(o.markName, o.mark), ...procs.orphans()]) killTree(p.pid, 'SIGKILL');
  };
  const onAbort = () => {
    const sig = (o.signal?.reason as { signal?: NodeJS.Signals } | undefined)?.signal ?? 'SIGTERM';
    log.info(`forwarding ${sig} to the solver; waiting up to ${Math.round(o.graceMs / 1000)} s for it to stop`);
    child.kill(sig);
    killTimer = setTimeout(() => killAll('the solver did not stop within the grace time'), o.graceMs);
  };
  const onHard = () => killAll('second signal');
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  o.hardStop?.addEventListener('abort', onHard, { once: true });
  track();
  return {
    done: () => {
      clearInterval(tracker);
      clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
      o.hardStop?.removeEventListener('abort', onHard);
    },
    seen: () => [...seen.values()],
  };
}

/**
 * Stops what the run left running once the launcher exited — adopted orphans and what is below them,
 * processes with the run's mark, or seen below the launcher (run-processes.ts) — so that nothing
 * writes into the run directory after the final sweep: SIGTERM, `graceMs` (none after a second
 * signal), SIGKILL. Each is named in the log.
 */
export async function stopLeftovers(
  procs: RunProcesses,
  tracked: Proc[],
  o: SuperviseOptions,
  log: Log,
): Promise<Proc[]> {
  const left = procs.leftovers(o.markName, o.mark, tracked, isAlive);
  if (left.length === 0) return [];
  for (const p of left) {
    log.warn(
      `process ${p.pid} (${p.command}) was started by the run and still runs after the launcher exited: stopping it`,
    );
  }
  const grace = o.hardStop?.aborted ? 0 : o.graceMs;
  const killed = await stopProcesses(left, grace, o.hardStop);
  for (const p of killed) {
    log.warn(`process ${p.pid} (${p.command}) did not stop on SIGTERM within ${Math.round(grace / 1000)} s: killed`);
  }
  // What they started while they were stopped (a helper's `sleep` between two lines, begun after
  // the list above was made): killed at once, a few rounds at most (CI saw one outlive ferry).
  for (let round = 0; round < 3; round++) {
    const more = procs.leftovers(o.markName, o.mark, tracked, isAlive);
    if (more.length === 0) break;
    await stopProcesses(more, 0, o.hardStop);
  }
  log.info(`${left.length} leftover process(es) of the run stopped before the final upload`);
  return left;
}
