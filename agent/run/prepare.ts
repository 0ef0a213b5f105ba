import { formatUri } from '../location.ts';
import { FIXED_OWN, RUN_LOG, RUN_LOG_OBJECT } from '../names.ts';
import type { JobInputs } from '../rundir/job-inputs.ts';
import { consoleFiles, OwnFiles } from '../rundir/own-files.ts';
import { loadRunState, type RunState } from '../rundir/state.ts';
import { scanTree } from '../rundir/tree.ts';
import type { SolverCommand } from '../solver/mpi.ts';
import { planSolver } from '../solver/plan.ts';
import { resolveProfile, type CheckpointProfile } from '../checkpoint/profiles.ts';
import { attemptId } from '../prefix/row.ts';
import type { Row } from './row.ts';

/** What the run directory holds for this row before any byte moves, and how the solver starts. */
export interface Prepared {
  /** The job's own files in the run directory: never uploaded; those at its top deleted by the wipe. */
  job: JobInputs;
  /** This row's state: run id, files that were here before ferry first ran. */
  state: RunState;
  /** ferry's own files in the run directory (its log, state, lock, temp files, console). */
  own: OwnFiles;
  command: SolverCommand;
  /** This attempt of the row (in the lease, the journal, the manifest). */
  attempt: string;
  /** The solver's checkpoints, when it has a profile. */
  checkpoint?: CheckpointProfile;
}

/**
 * Before any byte moves, given what belongs to the job (runRow knows it first): this row's state (run
 * id, files that were here before), ferry's own files, and the launcher (found and asked its flavor).
 */
export async function prepare(row: Row, job: JobInputs): Promise<Prepared> {
  const { cfg, ctx, log } = row;
  const console = consoleFiles(cfg.workdir);
  for (const c of console)
    log.info(
      `ferry's own output goes to ./${c}, inside the run directory: it is ferry's file (it changes while ferry ` +
        `runs), never uploaded and kept; its lines are in ${RUN_LOG}, uploaded as ${RUN_LOG_OBJECT}`,
    );
  const scan = await scanTree(cfg.workdir, (rel) => FIXED_OWN.has(rel) || console.has(rel));
  // The row this directory's state is of: its output prefix and inputs (as prefix/row.ts's key).
  const rowOf = JSON.stringify({ output: formatUri(cfg.output), inputs: cfg.inputs.map(formatUri) });
  const state = await loadRunState(cfg.workdir, scan, rowOf, log);
  const own = OwnFiles.forRun(state.runId, console);
  if (state.rerun) log.info('this run directory holds an earlier attempt of this row: its outputs count as outputs');
  const checkpoint = resolveProfile(cfg.checkpoint);
  const command = await planSolver(cfg.mpi, cfg.solver, cfg.workdir, ctx.env);
  return { job, state, own, command, attempt: attemptId(), checkpoint };
}
