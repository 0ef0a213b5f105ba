// Checkpoint profiles: how ferry asks a solver for a checkpoint, which files are its checkpoints,
// which is the newest, and how a resumed run is told to start from one. The built-in profiles are
// the one table below (a solver's profile is one entry); --checkpoint-trigger and
// --checkpoint-files make a custom one.
import { readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { EXIT, FerryError, errnoCode, localIoError, usageError } from '../errors.ts';
import { closest } from '../flags/suggest.ts';
import { newestFirst, type CheckpointFile } from './checkpoints.ts';
import { prepareConvergeResume } from './converge.ts';
import { compileGlob, type Glob } from '../glob.ts';

/** What resuming from a checkpoint takes, beyond having it in the run directory. */
export interface Resume {
  /** Variables to add to the solver's environment: FERRY_RESUMED_FROM=<absolute path>, always. */
  env: Record<string, string>;
  /** What was changed in the run directory, for the log ("inputs.in line 12: restart_flag 1"). */
  changes: string[];
}

export interface CheckpointProfile {
  /** The built-in's name, or 'custom'. */
  name: string;
  /**
   * A file name: created empty in the run directory, it asks the solver for a checkpoint at the end
   * of its current step; the solver deletes it once that checkpoint is written. Undefined: the
   * solver cannot be asked (it writes checkpoints on its own schedule only).
   */
  trigger?: string;
  /** The checkpoint files, relative to the run directory. */
  files: Glob;
  /** Sorts checkpoint files newest first. */
  order(a: CheckpointFile, b: CheckpointFile): number;
  /**
   * Prepares `runDir`, which already holds `checkpoint` (relative), for the solver to resume from
   * it. Throws a FerryError when the checkpoint is not there or the solver would not start from it.
   */
  resume(runDir: string, checkpoint: string): Promise<Resume>;
}

interface Entry {
  name: string;
  /** One line for --help and doe init. */
  summary: string;
  /** The solver executables it is for (matched against the command's file name). */
  solver: RegExp;
  trigger: string;
  files: string;
  /** What the solver needs to resume beyond FERRY_RESUMED_FROM; returns the changes made. */
  prepare?: (runDir: string, checkpoint: string, names: string[]) => Promise<string[]>;
}

/** The built-in profiles. */
const PROFILES: readonly Entry[] = [
  {
    name: 'converge',
    summary: 'CONVERGE: RESTART asks for a restart file, restart*.rst are kept, restart_flag 1 in inputs.in resumes',
    solver: /^converge/i,
    trigger: 'RESTART',
    files: 'restart*.rst',
    prepare: prepareConvergeResume,
  },
];

/** The built-in profiles' names and summaries (for --help). */
export const BUILT_IN_PROFILES: ReadonlyArray<{ name: string; summary: string }> = PROFILES.map((p) => ({
  name: p.name,
  summary: p.summary,
}));

/** The built-in profile for a solver command (its executable's file name: `converge`, `/opt/bin/converge-3.1`). */
export function profileForSolver(command: string): string | undefined {
  return PROFILES.find((p) => p.solver.test(basename(command)))?.name;
}

/** The top-level names of the run directory (what a solver looking for its restart file sees). */
async function topNames(runDir: string): Promise<string[]> {
  try {
    return await readdir(runDir);
  } catch (err) {
    throw localIoError(err, 'solve', runDir);
  }
}

async function checkThere(runDir: string, checkpoint: string): Promise<void> {
  const path = join(runDir, checkpoint);
  if (isAbsolute(checkpoint) || checkpoint.split(/[/\\]/).includes('..'))
    throw new FerryError(`a checkpoint path must stay inside the run directory: ${checkpoint}`, {
      phase: 'solve',
      target: runDir,
      exitCode: EXIT.dataErr,
      hint: 'the checkpoint journal under the output prefix names a path outside the run directory: remove it',
    });
  try {
    if ((await stat(path)).isFile()) return;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw localIoError(err, 'solve', path);
  }
  throw new FerryError(`the checkpoint to resume from is not in the run directory`, {
    phase: 'solve',
    target: path,
    exitCode: EXIT.internal,
    hint: 'restore the checkpoint into the run directory before preparing the resumed run',
  });
}

function profile(
  name: string,
  trigger: string | undefined,
  files: Glob,
  prepare?: Entry['prepare'],
): CheckpointProfile {
  return {
    name,
    trigger,
    files,
    order: newestFirst,
    async resume(runDir, checkpoint) {
      await checkThere(runDir, checkpoint);
      const changes = prepare ? await prepare(runDir, checkpoint, await topNames(runDir)) : [];
      return { env: { FERRY_RESUMED_FROM: join(runDir, checkpoint) }, changes };
    },
  };
}

/** A trigger is one file name in the run directory. */
function triggerName(name: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name))
    throw usageError(
      `--checkpoint-trigger '${name}' is not a file name`,
      'name the file the solver watches for in its run directory, without a directory: --checkpoint-trigger RESTART',
    );
  return name;
}

export interface CheckpointFlags {
  /** --checkpoint NAME: a built-in profile. */
  checkpoint?: string;
  /** --checkpoint-trigger NAME */
  trigger?: string;
  /** --checkpoint-files GLOB */
  files?: string;
}

/**
 * The profile the flags ask for: a built-in (--checkpoint NAME), a custom one (--checkpoint-files
 * GLOB, with --checkpoint-trigger NAME when the solver can be asked for a checkpoint), or none.
 * Refused (exit 64): an unknown name (the closest one suggested), a built-in mixed with the custom
 * flags, a trigger without files, a bad glob or trigger name.
 */
export function resolveProfile(f: CheckpointFlags): CheckpointProfile | undefined {
  const custom = f.trigger !== undefined || f.files !== undefined;
  if (f.checkpoint !== undefined) {
    if (custom)
      throw usageError(
        `--checkpoint ${f.checkpoint} is a built-in profile: it takes no --checkpoint-trigger or --checkpoint-files`,
        'use either --checkpoint NAME, or --checkpoint-files GLOB (and --checkpoint-trigger NAME) for another solver',
      );
    const e = PROFILES.find((p) => p.name === f.checkpoint);
    if (!e) {
      const meant = closest(
        f.checkpoint,
        PROFILES.map((p) => p.name),
      );
      const names = PROFILES.map((p) => p.name).join(', ');
      throw usageError(
        `--checkpoint '${f.checkpoint}' is not a checkpoint profile (built in: ${names})`,
        `${meant ? `did you mean --checkpoint ${meant}? ` : ''}` +
          'for another solver: --checkpoint-files GLOB and --checkpoint-trigger NAME',
      );
    }
    return profile(e.name, e.trigger, compileGlob(e.files, `--checkpoint ${e.name}`), e.prepare);
  }
  if (!custom) return undefined;
  if (f.files === undefined)
    throw usageError(
      '--checkpoint-trigger needs --checkpoint-files GLOB: which files are the checkpoints',
      "e.g. --checkpoint-trigger CHECKPOINT --checkpoint-files 'chk/*.h5'",
    );
  const trigger = f.trigger === undefined ? undefined : triggerName(f.trigger);
  return profile('custom', trigger, compileGlob(f.files, '--checkpoint-files'));
}
