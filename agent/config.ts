import { homedir } from 'node:os';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { bool, list, parseSize, positiveInt, str, type FlagSpec, type ParsedArgs } from './args.ts';
import { usageError } from './errors.ts';
import { asPrefix, formatUri, overlaps, parseUri, type Location } from './location.ts';
import { readVarsFile } from './vars.ts';

/** Object settings for uploads, as S3 names them (--sse, --sse-kms-key-id, --storage-class). */
export interface ObjectParams {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
  /** STANDARD, STANDARD_IA, …: checked for its shape here, for its value by the server. */
  StorageClass?: string;
  ContentType?: string;
}

/** How ferry talks to S3; knows nothing of zips or MPI. */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  profile?: string;
  /** An AWS config/credentials file uploaded with the job (never uploaded back, never logged). */
  awsConfigFile?: string;
  /** Attempts per request, including the first (SDK standard retry mode: backoff with jitter). */
  maxAttempts: number;
  /** Passed to every PutObject / CreateMultipartUpload (--sse, --sse-kms-key-id, --storage-class). */
  objectParams: ObjectParams;
  /** Proxy URL from --proxy (else HTTPS_PROXY/HTTP_PROXY/NO_PROXY decide). */
  proxy?: string;
  /** Milliseconds a request may go without a byte either way before it is abandoned and retried (--timeout). */
  idleTimeoutMs: number;
}

export interface TransferSettings {
  /** Files uploaded or downloaded at once. */
  filesInFlight: number;
  /** Parts of one file in flight at once. */
  partsPerFile: number;
  /** Multipart part size; files up to this size go in one PutObject. */
  partSize: number;
  /**
   * Memory bound: all transfer buffers together (parts and small files being sent) never hold
   * more than this many bytes (--memory, default 256 MiB). A request waits for its bytes.
   */
  memory: number;
}

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
  /** Leave AWS_* credentials in the solver's environment. */
  solverEnvCredentials: boolean;
  /** Upload settled outputs while the solver runs. */
  liveUpload: boolean;
  /** Seconds a file must stay unchanged before a live upload takes it. */
  settleSeconds: number;
  /** Only show what would happen. */
  dryRun: boolean;
  /** Seconds the solver gets to stop after a forwarded signal before it is killed. */
  graceSeconds: number;
  /** Refuse archives unpacking to more than this (bytes); free disk space bounds it anyway. */
  maxExtract?: number;
  s3: S3Settings;
  transfer: TransferSettings;
}

export const S3_FLAGS: FlagSpec[] = [
  { name: 'endpoint', kind: 'string' },
  { name: 'region', kind: 'string' },
  { name: 'profile', kind: 'string' },
  { name: 'aws-config', kind: 'string' },
  { name: 'retries', kind: 'string' },
  { name: 'timeout', kind: 'string' },
  { name: 'proxy', kind: 'string' },
  { name: 'sse', kind: 'string' },
  { name: 'sse-kms-key-id', kind: 'string' },
  { name: 'storage-class', kind: 'string' },
  { name: 'concurrency', kind: 'string' },
  { name: 'part-concurrency', kind: 'string' },
  { name: 'part-size', kind: 'string' },
  { name: 'memory', kind: 'string' },
  { name: 'log-format', kind: 'string' },
  { name: 'quiet', kind: 'bool' },
  { name: 'help', kind: 'bool' },
];

export const GET_FLAGS: FlagSpec[] = [...S3_FLAGS, { name: 'max-extract', kind: 'string' }];

export function maxExtract(p: ParsedArgs): number | undefined {
  const v = str(p, 'max-extract');
  return v === undefined ? undefined : parseSize(v, '--max-extract');
}

export const RUN_FLAGS: FlagSpec[] = [
  ...GET_FLAGS,
  { name: 'input', kind: 'multi' },
  { name: 'output', kind: 'string' },
  { name: 'vars', kind: 'string' },
  { name: 'workdir', kind: 'string' },
  { name: 'np', kind: 'string' },
  { name: 'mpirun', kind: 'string' },
  { name: 'mpi-arg', kind: 'multi' },
  { name: 'mpi', kind: 'bool' },
  { name: 'hostfile', kind: 'string' },
  { name: 'upload-all', kind: 'bool' },
  { name: 'keep', kind: 'bool' },
  { name: 'wipe-all', kind: 'bool' },
  { name: 'take-over', kind: 'bool' },
  { name: 'solver-env-credentials', kind: 'bool' },
  { name: 'live-upload', kind: 'bool' },
  { name: 'settle', kind: 'string' },
  { name: 'grace', kind: 'string' },
  { name: 'dry-run', kind: 'bool' },
];

type Env = Record<string, string | undefined>;

export function s3Settings(p: ParsedArgs, env: Env, cwd: string): S3Settings {
  const awsConfig = str(p, 'aws-config');
  const file = awsConfig === undefined ? undefined : resolve(cwd, awsConfig);
  if (file !== undefined && !existsSync(file)) {
    throw usageError(`--aws-config file not found: ${file}`, 'upload the AWS config file as a job input and pass its name');
  }
  const retries = str(p, 'retries');
  return Object.freeze({
    endpoint: str(p, 'endpoint') ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? undefined,
    region: str(p, 'region'),
    profile: str(p, 'profile'),
    awsConfigFile: file,
    maxAttempts: retries === undefined ? 5 : positiveInt(retries, '--retries', 100),
    idleTimeoutMs: seconds(str(p, 'timeout'), '--timeout', 120) * 1000,
    proxy: str(p, 'proxy'),
    objectParams: objectParams(p),
  });
}

const MIN_PART = 5 * 1024 ** 2;
const MAX_PART = 5 * 1024 ** 3;

export function transferSettings(p: ParsedArgs): TransferSettings {
  const c = str(p, 'concurrency');
  const pc = str(p, 'part-concurrency');
  const ps = str(p, 'part-size');
  const partSize = ps === undefined ? 8 * 1024 * 1024 : parseSize(ps, '--part-size');
  if (partSize < MIN_PART || partSize > MAX_PART) {
    throw usageError(`--part-size must be from 5MiB to 5GiB (the S3 limits for multipart parts), got '${ps}'`);
  }
  const mem = str(p, 'memory');
  const memory = mem === undefined ? 256 * 1024 * 1024 : parseSize(mem, '--memory');
  if (memory < partSize) {
    throw usageError(`--memory (${mem ?? '256MiB'}) must be at least --part-size (${ps ?? '8MiB'})`, 'raise --memory or lower --part-size');
  }
  return Object.freeze({
    // 4 files × 4 parts (rclone's defaults): on the benchmark server 16 requests in flight beat 32
    // (6.2 s vs 6.3–9.1 s for 1 GiB) and kept RSS at ~240 MiB; raise them for fast, distant links.
    filesInFlight: c === undefined ? 4 : positiveInt(c, '--concurrency', 1000),
    partsPerFile: pc === undefined ? 4 : positiveInt(pc, '--part-concurrency', 1000),
    partSize,
    memory,
  });
}

/** Builds the frozen RunConfig from flags, then the --vars file, then the environment. */
export function runConfig(p: ParsedArgs, env: Env, cwd: string): RunConfig {
  const varsPath = str(p, 'vars');
  const varsFile = varsPath === undefined ? undefined : resolve(cwd, varsPath);
  const vars = varsFile === undefined ? new Map<string, string>() : readVarsFile(varsFile);
  const pick = (flag: string | undefined, key: string) => flag ?? vars.get(key) ?? (env[key] || undefined);

  const inputFlags = list(p, 'input');
  const inputText = inputFlags.length > 0 ? inputFlags : [pick(undefined, 's3_input')].filter((x): x is string => !!x);
  if (inputText.length === 0) {
    throw usageError(
      'no input given',
      'pass --input s3://BUCKET/KEY.zip, set the environment variable s3_input, or give --vars FILE with an s3_input= line',
    );
  }
  const outputText = pick(str(p, 'output'), 's3_output');
  if (!outputText) {
    throw usageError(
      'no output given',
      'pass --output s3://BUCKET/PREFIX/, set the environment variable s3_output, or give --vars FILE with an s3_output= line',
    );
  }
  const inputs = inputText.flatMap((t) => t.split(',')).filter((t) => t.trim() !== '').map((t) => parseUri(t, 'input'));
  const output = asPrefix(parseUri(outputText, 'output'));
  for (const i of inputs) {
    if (overlaps(output, i)) {
      throw usageError(
        `the output ${formatUri(output)} overlaps the input ${formatUri(i)}: the run's outputs would overwrite its input`,
        'give the outputs a prefix of their own, e.g. s3://BUCKET/output/CASE/ beside s3://BUCKET/input/',
      );
    }
  }

  const solver = p.rest;
  if (solver.length === 0) {
    throw usageError('no solver command given', 'put the solver after the options, e.g. ferry run --aws-config config -- converge super');
  }

  const workdir = resolve(cwd, str(p, 'workdir') ?? '.');
  if (!existsSync(workdir) || !statSync(workdir).isDirectory()) {
    throw usageError(`--workdir is not a directory: ${workdir}`);
  }
  const wipeAll = bool(p, 'wipe-all') ?? false;
  checkRunDir(workdir, wipeAll, env);

  const npText = str(p, 'np') ?? (env.RESCALE_CORES_PER_SLOT || undefined);
  const np = npText === undefined ? 8 : positiveInt(npText, str(p, 'np') ? '--np' : 'RESCALE_CORES_PER_SLOT');
  const hostfileFlag = str(p, 'hostfile');
  const home = env.HOME || safeHomedir();
  const platformMachinefile = home ? join(home, 'machinefile') : undefined;
  let hostfile: string | undefined;
  if (hostfileFlag !== undefined) {
    hostfile = resolve(cwd, hostfileFlag);
    if (!existsSync(hostfile)) throw usageError(`--hostfile not found: ${hostfile}`);
  } else if (platformMachinefile && existsSync(platformMachinefile)) {
    hostfile = platformMachinefile;
  }

  return Object.freeze({
    inputs,
    output,
    varsFile,
    workdir,
    solver,
    mpi: Object.freeze({
      enabled: bool(p, 'mpi') ?? true,
      np,
      mpirun: str(p, 'mpirun') ?? 'mpirun',
      extraArgs: list(p, 'mpi-arg'),
      hostfile,
    }),
    uploadAll: bool(p, 'upload-all') ?? false,
    keep: bool(p, 'keep') ?? false,
    wipeAll,
    takeOver: bool(p, 'take-over') ?? false,
    solverEnvCredentials: bool(p, 'solver-env-credentials') ?? false,
    liveUpload: bool(p, 'live-upload') ?? true,
    settleSeconds: seconds(str(p, 'settle'), '--settle', 30),
    graceSeconds: seconds(str(p, 'grace'), '--grace', 60),
    dryRun: bool(p, 'dry-run') ?? false,
    maxExtract: maxExtract(p),
    s3: s3Settings(p, env, cwd),
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
    throw usageError('the run directory resolves to /', 'run ferry in the job\'s own working directory, or pass --workdir DIR');
  }
  if (!wipeAll) return;
  const home = env.HOME || safeHomedir();
  if (home && existsSync(home) && realpathSync(home) === real) {
    throw usageError(`--wipe-all would empty the home directory ${real}`, 'drop --wipe-all (the default wipe deletes only what ferry accounts for), or use a run directory of its own');
  }
  if (statSync(real).dev !== statSync(dirname(real)).dev) {
    throw usageError(`--wipe-all would empty ${real}, the root of a mounted file system`, 'drop --wipe-all, or use a directory inside it as the run directory');
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}


function seconds(text: string | undefined, what: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n > 0)) throw usageError(`${what} must be a number of seconds > 0, got '${text}'`);
  return n;
}

function objectParams(p: ParsedArgs): ObjectParams {
  const sse = str(p, 'sse');
  const kmsKey = str(p, 'sse-kms-key-id');
  const storageClass = str(p, 'storage-class');
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') throw usageError(`--sse must be AES256 or aws:kms, got '${sse}'`);
  if (kmsKey !== undefined && sse !== 'aws:kms') throw usageError('--sse-kms-key-id needs --sse aws:kms');
  if (storageClass !== undefined && !/^[A-Z_]+$/.test(storageClass)) throw usageError(`--storage-class looks wrong: '${storageClass}'`, 'e.g. STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR');
  return Object.freeze({
    ...(sse ? { ServerSideEncryption: sse as 'AES256' | 'aws:kms' } : {}),
    ...(kmsKey ? { SSEKMSKeyId: kmsKey } : {}),
    ...(storageClass ? { StorageClass: storageClass } : {}),
  });
}
