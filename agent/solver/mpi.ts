import { availableParallelism } from 'node:os';
import type { MpiSettings } from '../config.ts';

export type MpiFlavor = 'openmpi' | 'mpich' | 'unknown';

/** The command line that starts the solver: the launcher (or the solver itself with --no-mpi). */
export interface SolverCommand {
  file: string;
  args: string[];
  /** Extra environment for the launcher; the caller merges it over its own. */
  env: Record<string, string>;
  /** Decisions worth a log line ("oversubscribing: 8 ranks on 2 cores"). */
  notes: string[];
}

/** Reads the flavor from `mpirun --version` output. */
export function detectFlavor(versionText: string): MpiFlavor {
  if (/Open MPI|OpenRTE|open-mpi/i.test(versionText)) return 'openmpi';
  if (/HYDRA|MPICH|Intel\(R\) MPI/i.test(versionText)) return 'mpich';
  return 'unknown';
}

/**
 * The launcher command line for `solver` under MPI. Open MPI needs explicit permission to run as
 * root and to place more ranks than cores; both go in as OMPI_* variables (MPICH ignores them), and
 * never override what the user already set.
 */
export function launcherCommand(
  mpi: MpiSettings,
  solver: string[],
  flavor: MpiFlavor,
  ctx: { isRoot: boolean; cores?: number; env: Record<string, string | undefined> },
): SolverCommand {
  if (!mpi.enabled) return { file: solver[0], args: solver.slice(1), env: {}, notes: [] };
  const args = ['-np', String(mpi.np)];
  const env: Record<string, string> = {};
  const notes: string[] = [];
  if (mpi.hostfile) {
    args.push(flavor === 'openmpi' ? '--hostfile' : flavor === 'mpich' ? '-f' : '-machinefile', mpi.hostfile);
    notes.push(`machinefile: ${mpi.hostfile}`);
  }
  if (flavor === 'openmpi') {
    if (ctx.isRoot && ctx.env.OMPI_ALLOW_RUN_AS_ROOT === undefined) {
      env.OMPI_ALLOW_RUN_AS_ROOT = '1';
      env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
      notes.push('running as root: allowing Open MPI to run as root');
    }
    const cores = ctx.cores ?? availableParallelism();
    if (!mpi.hostfile && mpi.np > cores && ctx.env.OMPI_MCA_rmaps_base_oversubscribe === undefined) {
      env.OMPI_MCA_rmaps_base_oversubscribe = '1';
      notes.push(`oversubscribing: ${mpi.np} ranks on ${cores} cores`);
    }
  }
  args.push(...mpi.extraArgs, ...solver);
  return { file: mpi.mpirun, args, env, notes };
}
