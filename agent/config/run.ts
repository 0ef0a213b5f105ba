import { existsSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { usageError } from '../errors.ts';
import type { Args } from '../flags/parse.ts';
import { positiveInt } from '../flags/values.ts';
import { asPrefix, formatUri, overlaps, parseUri, type Location } from '../location.ts';
import { compileGlob } from '../glob.ts';
import { readVarsFile } from '../vars.ts';
import * as F from './run-flags.ts';
import { storeSettings, type StoreConfig } from './store.ts';
import { transferSettings, type TransferSettings } from './transfer.ts';
import type { Env } from './values.ts';

export interface MpiSettings {
  enabled: boolean;
  np: number;
  /** Launcher command or path. */
  mpirun: string;
  extraArgs: string[];
  hostfile?: string;
}

export interface RunConfig {
  inputs: Location[];
  output: Location;
  /** The rendered vars file (--vars), if one was given. */
  varsFile?: string;
  workdir: string;
  solver: string[];
  mpi: MpiSettings;
  uploadAll: boolean;
  keep: boolean;
  /** Empty the whole run directory after verification (the old rm -rf *), not only what ferry accounts for. */
  wipeAll: boolean;
  /** Steal the output prefix's lease from a run that stopped renewing it. */
  takeOver: boolean;
  /** Leave AWS_* and AZURE_* credentials in the solver's environment. */
  solverEnvCredentials: boolean;
  /** Upload settled outputs while the solver runs. */
  liveUpload: boolean;
  /** Seconds a file must stay unchanged before a live upload takes it. */
  settleSeconds: number;
  /** Only show what would happen. */
  dryRun: boolean;
  /** Run the row even when its prefix already holds its complete, whole manifest. */
  rerun: boolean;
  /** Files of the run directory never uploaded (--exclude). */
  exclude: (rel: string) => boolean;
  /** Objects a resumed attempt leaves in the store only (--resume-skip). */
  resumeSkip: (rel: string) => boolean;
  /** The solver's checkpoints as asked (--checkpoint, --checkpoint-files/-trigger; resolved by the run). */
  checkpoint: { checkpoint?: string; trigger?: string; files?: string };
  /** Seconds to wait for a checkpoint asked for at a stop signal or a notice (--checkpoint-wait). */
  checkpointWaitSeconds: number;
  /** Watch the cloud's interruption notice while the solver runs (--no-interruption-notice). */
  interruptionNotice: boolean;
  /** Seconds the solver gets to stop after a forwarded signal before it is killed. */
  graceSeconds: number;
  /** Refuse archives unpacking to more than this (bytes); free disk space bounds it anyway. */
  maxExtract?: number;
  /** The settings of every store (S3, Azure). */
  stores: StoreConfig;
  transfer: TransferSettings;
}

/**
 * One value may hold several inputs (`s3_input=s3://b/a.zip,s3://b/b.zip`): split only at a comma that
 * starts another URI, so a key holding a comma (`in/case,v2.zip`) stays whole.
 */
export function splitInputs(text: string): string[] {
  return text
    .split(/,(?=\s*(?:s3|az|https):\/\/)/i)
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** The input locations and the output prefix: flags, then the --vars file, then the environment. */
function locations(p: Args, pick: (flag: string | undefined, key: string) => string | undefined) {
  const inputFlags = p.get(F.INPUT);
  const inputText = inputFlags.length > 0 ? inputFlags : [pick(undefined, 's3_input')].filter((x): x is string => !!x);
  if (inputText.length === 0) {
    const hint =
      'pass --input s3://BUCKET/KEY.zip, set the environment variable s3_input, ' +
      'or give --vars FILE with an s3_input= line';
    throw usageError('no input given', hint);
  }
  const outputText = pick(p.get(F.OUTPUT), 's3_output');
  if (!outputText) {
    const hint =
      'pass --output s3://BUCKET/PREFIX/, set the environment variable s3_output, ' +
      'or give --vars FILE with an s3_output= line';
    throw usageError('no output given', hint);
  }
  const inputs = inputText.flatMap(splitInputs).map((t) => parseUri(t, 'input'));
  const output = asPrefix(parseUri(outputText, 'output'));
  refuseOverlap(inputs, output);
  return { inputs, output };
}

/** An output prefix equal to, inside, or containing an input: 64 before anything moves (run and check). */
export function refuseOverlap(inputs: Location[], output: Location): void {
  for (const i of inputs) {
    if (!overlaps(output, i)) continue;
    throw usageError(
      `the output ${formatUri(output)} overlaps the input ${formatUri(i)}: the run's outputs would overwrite its input`,
      'give the outputs a prefix of their own, e.g. s3://BUCKET/output/CASE/ beside s3://BUCKET/input/',
    );
  }
}

/** The MPI launch: -np from the flag or RESCALE_CORES_PER_SLOT (8), the machinefile when the platform left one. */
function mpiSettings(p: Args, env: Env, cwd: string): MpiSettings {
  const fromEnv = env.RESCALE_CORES_PER_SLOT || undefined;
  const np = p.get(F.NP) ?? (fromEnv === undefined ? 8 : positiveInt(fromEnv, 'RESCALE_CORES_PER_SLOT'));
  const hostfileFlag = p.get(F.HOSTFILE);
  const home = env.HOME || safeHomedir();
  const platformMachinefile = home ? join(home, 'machinefile') : undefined;
  let hostfile: string | undefined;
  if (hostfileFlag !== undefined) {
    hostfile = resolve(cwd, hostfileFlag);
    if (!existsSync(hostfile)) throw usageError(`--hostfile not found: ${hostfile}`);
  } else if (platformMachinefile && existsSync(platformMachinefile)) {
    hostfile = platformMachinefile;
  }
  const mpirun = p.get(F.MPIRUN) ?? 'mpirun';
  return Object.freeze({ enabled: p.get(F.MPI), np, mpirun, extraArgs: p.get(F.MPI_ARG), hostfile });
}

/** Builds the frozen RunConfig from flags, then the --vars file, then the environment. */
export function runConfig(p: Args, env: Env, cwd: string): RunConfig {
  const varsPath = p.get(F.VARS);
  const varsFile = varsPath === undefined ? undefined : resolve(cwd, varsPath);
  const vars = varsFile === undefined ? new Map<string, string>() : readVarsFile(varsFile);
  const pick = (flag: string | undefined, key: string) => flag ?? vars.get(key) ?? (env[key] || undefined);
  const { inputs, output } = locations(p, pick);
  const solver = p.rest;
  if (solver.length === 0) {
    const hint = 'put the solver after the options, e.g. ferry run --aws-config config -- converge super';
    throw usageError('no solver command given', hint);
  }
  const workdir = resolve(cwd, p.get(F.WORKDIR) ?? '.');
  if (!existsSync(workdir) || !statSync(workdir).isDirectory())
    throw usageError(`--workdir is not a directory: ${workdir}`);
  const wipeAll = p.get(F.WIPE_ALL);
  checkRunDir(workdir, wipeAll, env);
  return Object.freeze({
    inputs,
    output,
    varsFile,
    workdir,
    solver,
    mpi: mpiSettings(p, env, cwd),
    uploadAll: p.get(F.UPLOAD_ALL),
    keep: p.get(F.KEEP),
    wipeAll,
    takeOver: p.get(F.TAKE_OVER),
    solverEnvCredentials: p.get(F.SOLVER_ENV_CREDENTIALS),
    liveUpload: p.get(F.LIVE_UPLOAD),
    settleSeconds: p.get(F.SETTLE),
    graceSeconds: p.get(F.GRACE),
    dryRun: p.get(F.DRY_RUN),
    rerun: p.get(F.RERUN),
    exclude: globs(p.get(F.EXCLUDE), '--exclude'),
    resumeSkip: globs(p.get(F.RESUME_SKIP), '--resume-skip'),
    checkpoint: {
      checkpoint: p.get(F.CHECKPOINT),
      trigger: p.get(F.CHECKPOINT_TRIGGER),
      files: p.get(F.CHECKPOINT_FILES),
    },
    checkpointWaitSeconds: p.get(F.CHECKPOINT_WAIT),
    interruptionNotice: p.get(F.INTERRUPTION_NOTICE),
    maxExtract: p.get(F.MAX_EXTRACT),
    stores: storeSettings(p, env, cwd),
    transfer: transferSettings(p),
  });
}

/**
 * A run directory ferry may work in: never the root of the file system; with --wipe-all (which
 * empties it) also not the user's home directory nor the root of a mounted file system.
 */
function checkRunDir(workdir: string, wipeAll: boolean, env: Env): void {
  const real = realpathSync(workdir);
  if (real === '/') {
    throw usageError(
      'the run directory resolves to /',
      "run ferry in the job's own working directory, or pass --workdir DIR",
    );
  }
  if (!wipeAll) return;
  const home = env.HOME || safeHomedir();
  if (home && existsSync(home) && realpathSync(home) === real) {
    throw usageError(
      `--wipe-all would empty the home directory ${real}`,
      'drop --wipe-all (the default wipe deletes only what ferry accounts for), or use a run directory of its own',
    );
  }
  if (statSync(real).dev !== statSync(dirname(real)).dev) {
    throw usageError(
      `--wipe-all would empty ${real}, the root of a mounted file system`,
      'drop --wipe-all, or use a directory inside it as the run directory',
    );
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

/** Any of the globs matches (none given: nothing does). */
function globs(patterns: string[], flag: string): (rel: string) => boolean {
  const compiled = patterns.map((p) => compileGlob(p, flag));
  return (rel) => compiled.some((g) => g.matches(rel));
}
