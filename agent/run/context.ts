import type { RunConfig } from '../config.ts';
import type { CommandContext } from '../commands/context.ts';
import type { Launch } from '../mpi/launch.ts';
import type { FetchResult } from '../phases/fetch-input.ts';
import type { SweepResult } from '../phases/final-sweep.ts';
import type { JobInputs } from '../phases/job-inputs.ts';
import type { Lease } from '../phases/lease.ts';
import type { LiveUpload } from '../phases/live-upload.ts';
import type { Manifest } from '../phases/manifest.ts';
import type { Snapshot } from '../phases/outputs.ts';
import type { OwnFiles } from '../phases/own-files.ts';
import type { RunState } from '../phases/run-state.ts';
import type { SolverResult } from '../phases/solve.ts';
import type { Uploader } from '../phases/upload.ts';
import type { WipePlan } from '../phases/wipe.ts';
import type { Stores } from '../stores.ts';
import type { Store } from '../store/store.ts';

/** What the files of a run came to, decided once the final sweep is done. */
export interface Verdict {
  status: Manifest['status'];
  /** Relative path → why it is not verified in the store. */
  notUploaded: Map<string, string>;
  /** The exit code of the first failed upload, if one failed. */
  failedExit?: number;
}

/**
 * One `ferry run`: its configuration and what each phase adds, in the order they run. A phase
 * reads only fields earlier phases set (`need` says which phase forgot one).
 */
export class Run {
  readonly startedAt = new Date();
  /** --dry-run: phases describe what they would do here instead of doing it. */
  readonly report: string[] = [];

  // prepare
  /** The job's own files in the run directory: never uploaded; those at its top deleted by the wipe. */
  named?: JobInputs;
  state?: RunState;
  /** ferry's own files in the run directory (its log, state, lock, temp files, console). */
  own?: OwnFiles;
  launch?: Launch;
  lease?: Lease;
  // fetch
  fetched?: FetchResult;
  /** Files as extracted (not outputs while unchanged; the wipe deletes them while so). */
  inputs?: Snapshot;
  /** The run dir before the solver: what is not an output. */
  baseline?: Snapshot;
  // launch
  uploader?: Uploader;
  live?: LiveUpload;
  // watch
  solved?: SolverResult;
  // sweep
  sweep?: SweepResult;
  // manifest
  verdict?: Verdict;
  plan?: WipePlan;
  manifest?: Manifest;
  manifestWritten?: boolean;
  // wipe
  /** Files that changed between the wipe's plan and their unlink (kept; the run is then incomplete). */
  changedAtWipe?: string[];

  constructor(
    readonly cfg: RunConfig,
    readonly ctx: CommandContext,
    readonly stores: Stores,
    readonly dry: boolean,
  ) {}

  get log() {
    return this.ctx.log;
  }

  /** The store of the output prefix. */
  output(): Promise<Store> {
    return this.stores.for(this.cfg.output);
  }

  need<K extends keyof this>(field: K): NonNullable<this[K]> {
    const v = this[field];
    if (v === undefined || v === null)
      throw new Error(`internal: the run has no ${String(field)} yet (a phase ran out of order)`);
    return v as NonNullable<this[K]>;
  }
}

/** A step of the run: what it reads from the Run, what it adds, and what it would do (--dry-run). */
export interface RunPhase {
  name: string;
  reads: Array<keyof Run>;
  adds: Array<keyof Run>;
  run(r: Run): Promise<void>;
  /** Describes the phase into r.report without side effects; may add what later dry phases read. */
  dry?(r: Run): Promise<void>;
}
