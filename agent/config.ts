import { homedir } from 'node:os';
import type { StorageClass } from '@aws-sdk/client-s3'; // a type only: erased, loads nothing
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bool, list, parseSize, positiveInt, str, type FlagSpec, type ParsedArgs } from './args.ts';
import { usageError } from './errors.ts';
import { asPrefix, parseS3Uri, type S3Uri } from './uri.ts';
import { readVarsFile } from './vars.ts';

/** Object settings for uploads, as the SDK names them. */
export interface ObjectParams {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
  StorageClass?: StorageClass;
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
  /** Milliseconds one request may take before it is abandoned and retried (a silent server must not hang the run). */
  requestTimeoutMs: number;
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
  inputs: S3Uri[];
  output: S3Uri;
  workdir: string;
  solver: string[];
  mpi: MpiSettings;
  uploadAll: boolean;
  keep: boolean;
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
    maxAttempts: retries === undefined ? 5 : positiveInt(retries, '--retries'),
    requestTimeoutMs: seconds(str(p, 'timeout'), '--timeout', 120) * 1000,
    proxy: str(p, 'proxy'),
    objectParams: objectParams(p),
  });
}

export function transferSettings(p: ParsedArgs): TransferSettings {
  const c = str(p, 'concurrency');
  const pc = str(p, 'part-concurrency');
  const ps = str(p, 'part-size');
  const partSize = ps === undefined ? 8 * 1024 * 1024 : parseSize(ps, '--part-size');
  if (partSize < 5 * 1024 * 1024) {
    throw usageError(`--part-size must be at least 5MiB (the S3 minimum for multipart parts), got '${ps}'`);
  }
  const mem = str(p, 'memory');
  const memory = mem === undefined ? 256 * 1024 * 1024 : parseSize(mem, '--memory');
  if (memory < partSize) {
    throw usageError(`--memory (${mem ?? '256MiB'}) must be at least --part-size (${ps ?? '8MiB'})`, 'raise --memory or lower --part-size');
  }
  return Object.freeze({
    // 4 files × 4 parts (rclone's defaults): on the benchmark server 16 requests in flight beat 32
    // (6.2 s vs 6.3–9.1 s for 1 GiB) and kept RSS at ~240 MiB; raise them for fast, distant links.
    filesInFlight: c === undefined ? 4 : positiveInt(c, '--concurrency'),
    partsPerFile: pc === undefined ? 4 : positiveInt(pc, '--part-concurrency'),
    partSize,
    memory,
  });
}

/** Builds the frozen RunConfig from flags, then the --vars file, then the environment. */
export function runConfig(p: ParsedArgs, env: Env, cwd: string): RunConfig {
  const varsPath = str(p, 'vars');
  const vars = varsPath === undefined ? new Map<string, string>() : readVarsFile(resolve(cwd, varsPath));
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
  const inputs = inputText.flatMap((t) => t.split(',')).filter((t) => t.trim() !== '').map((t) => parseS3Uri(t, 'input'));
  const output = asPrefix(parseS3Uri(outputText, 'output'));

  const solver = p.rest;
  if (solver.length === 0) {
    throw usageError('no solver command given', 'put the solver after the options, e.g. ferry run --aws-config config -- converge super');
  }

  const workdir = resolve(cwd, str(p, 'workdir') ?? '.');
  if (!existsSync(workdir) || !statSync(workdir).isDirectory()) {
    throw usageError(`--workdir is not a directory: ${workdir}`);
  }

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
    liveUpload: bool(p, 'live-upload') ?? true,
    settleSeconds: seconds(str(p, 'settle'), '--settle', 30),
    graceSeconds: seconds(str(p, 'grace'), '--grace', 60),
    dryRun: bool(p, 'dry-run') ?? false,
    maxExtract: maxExtract(p),
    s3: s3Settings(p, env, cwd),
    transfer: transferSettings(p),
  });
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
    ...(storageClass ? { StorageClass: storageClass as StorageClass } : {}),
  });
}
