import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { positiveInt, str, type ParsedArgs } from '../args.ts';
import { usageError } from '../errors.ts';
import { netSettings, type NetSettings } from './net.ts';
import { seconds, type Env } from './values.ts';

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
  /** Milliseconds a request may go without a byte either way before it is abandoned and retried (--timeout). */
  idleTimeoutMs: number;
}

/** How ferry talks to Azure Blob Storage: retries and --timeout are the same flags as S3's. */
export interface AzureSettings {
  /** A credentials file uploaded with the job (--azure-config; never uploaded back, never logged). */
  configFile?: string;
  maxAttempts: number;
  idleTimeoutMs: number;
}

/** The settings of every store a command may open (which one serves a location is its scheme's). */
export interface StoreConfig {
  s3: S3Settings;
  azure: AzureSettings;
  /** Proxy, PAC file and proxy account (--proxy, --proxy-pac, --proxy-auth-file): one network for all stores. */
  net: NetSettings;
}

export function storeSettings(p: ParsedArgs, env: Env, cwd: string): StoreConfig {
  const s3 = s3Settings(p, env, cwd);
  const azure = Object.freeze({
    configFile: configFile(p, 'azure-config', cwd, 'Azure credentials'),
    maxAttempts: s3.maxAttempts,
    idleTimeoutMs: s3.idleTimeoutMs,
  });
  return Object.freeze({ s3, azure, net: netSettings(p, env, cwd) });
}

/** The file a --…-config flag names, which must exist (it is a job input). */
function configFile(p: ParsedArgs, flag: string, cwd: string, what: string): string | undefined {
  const given = str(p, flag);
  const file = given === undefined ? undefined : resolve(cwd, given);
  if (file !== undefined && !existsSync(file)) {
    throw usageError(`--${flag} file not found: ${file}`, `upload the ${what} file as a job input and pass its name`);
  }
  return file;
}

export function s3Settings(p: ParsedArgs, env: Env, cwd: string): S3Settings {
  const file = configFile(p, 'aws-config', cwd, 'AWS config');
  const retries = str(p, 'retries');
  return Object.freeze({
    endpoint: str(p, 'endpoint') ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? undefined,
    region: str(p, 'region'),
    profile: str(p, 'profile'),
    awsConfigFile: file,
    maxAttempts: retries === undefined ? 5 : positiveInt(retries, '--retries', 100),
    idleTimeoutMs: seconds(str(p, 'timeout'), '--timeout', 120) * 1000,
    objectParams: objectParams(p),
  });
}

function objectParams(p: ParsedArgs): ObjectParams {
  const sse = str(p, 'sse');
  const kmsKey = str(p, 'sse-kms-key-id');
  const storageClass = str(p, 'storage-class');
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms')
    throw usageError(`--sse must be AES256 or aws:kms, got '${sse}'`);
  if (kmsKey !== undefined && sse !== 'aws:kms') throw usageError('--sse-kms-key-id needs --sse aws:kms');
  if (storageClass !== undefined && !/^[A-Z_]+$/.test(storageClass))
    throw usageError(
      `--storage-class looks wrong: '${storageClass}'`,
      'e.g. STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR',
    );
  return Object.freeze({
    ...(sse ? { ServerSideEncryption: sse as 'AES256' | 'aws:kms' } : {}),
    ...(kmsKey ? { SSEKMSKeyId: kmsKey } : {}),
    ...(storageClass ? { StorageClass: storageClass } : {}),
  });
}
