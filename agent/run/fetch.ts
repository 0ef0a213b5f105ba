import type { Snapshot } from '../rundir/tree.ts';
import { scanTree } from '../rundir/tree.ts';
import { fetchInputs, planOptions, type FetchOptions, type FetchResult } from '../transfer/fetch.ts';
import { planAll, type Job, type Planned } from '../transfer/input-plan.ts';
import type { Prepared } from './prepare.ts';
import type { Row } from './row.ts';

/** The inputs in place: what came, and the run directory's state before the solver. */
export interface Fetched {
  result: FetchResult;
  /** Files as extracted (not outputs while unchanged; the wipe deletes them while so). */
  inputs: Snapshot;
  /** The run dir before the solver: what is not an output while unchanged. */
  baseline: Snapshot;
  /** Added to the solver's environment (FERRY_RESUMED_FROM on a resumed attempt). */
  solverEnv?: Record<string, string>;
  /** The checkpoint a resumed attempt starts from (relative), if any. */
  resumedFrom?: string;
}

/** How this row's inputs are fetched into the run directory. */
function fetchOptions(row: Row, p: Prepared): FetchOptions {
  const { cfg, ctx } = row;
  return {
    transfer: cfg.transfer,
    maxExtract: cfg.maxExtract,
    signal: ctx.stop,
    progress: ctx.progress,
    reserved: p.own.isOwn,
    before: p.state.files,
    temps: p.own,
  };
}

/** Where every input lands, checked as a whole before a byte is downloaded (transfer/input-plan.ts). */
export function planFetch(row: Row, p: Prepared, jobs: Job[], signal: AbortSignal): Promise<Planned[]> {
  return planAll(jobs, row.cfg.workdir, row.log, { ...planOptions(fetchOptions(row, p)), signal });
}

/**
 * Downloads and extracts the inputs as `planned` says; what is in the run dir then is not an output
 * while unchanged.
 */
export async function fetch(row: Row, p: Prepared, planned: Promise<Planned[]>): Promise<Fetched> {
  const { cfg } = row;
  const opts = { ...fetchOptions(row, p), planned };
  const result = await fetchInputs((loc) => row.stores.for(loc), cfg.inputs, cfg.workdir, row.log, opts);
  const after = await scanTree(cfg.workdir, p.own.isOwn);
  const inputs: Snapshot = new Map();
  for (const rel of result.files) if (after.files.has(rel)) inputs.set(rel, after.files.get(rel)!);
  return { result, inputs, baseline: new Map([...p.state.files, ...inputs]) };
}
