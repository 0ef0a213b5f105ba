import { usageError } from '../errors.ts';
import { choice, text, type Flag } from '../flags/flag.ts';
import type { FlagGroup } from '../flags/help.ts';
import type { Args } from '../flags/parse.ts';
import { jobFile } from './job-file.ts';
import { netSettings, RETRIES, TIMEOUT, type NetSettings } from './net.ts';
import type { Env } from './values.ts';

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

export const AWS_CONFIG = text('aws-config', {
  arg: 'FILE',
  help:
    'AWS config/credentials file ([default] or --profile): static keys (+ session\n' +
    'token, aws_credential_expiration), role_arn + source_profile/credential_source\n' +
    '(external_id), credential_process, sso_* (token cache), web_identity_token_file;\n' +
    "renewed before they expire; without it the SDK's default chain (env, ~/.aws,\n" +
    'instance role). STS: AWS_ENDPOINT_URL_STS, the profile, else the S3 endpoint',
});
export const PROFILE = text('profile', {
  arg: 'NAME',
  help: 'profile in that file (default: AWS_PROFILE, else default)',
});
export const ENDPOINT = text('endpoint', {
  arg: 'URL',
  help:
    'S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,\n' +
    'or endpoint_url in the config file); implies path-style addressing',
});
export const REGION = text('region', { arg: 'NAME', help: 'default: AWS_REGION, config file, else us-east-1' });
export const SSE = choice('sse', ['AES256', 'aws:kms'], {
  help: 'server-side encryption for uploads (--sse-kms-key-id KEY with aws:kms)',
});
export const SSE_KMS_KEY_ID = text('sse-kms-key-id', { arg: 'KEY', help: 'the KMS key for --sse aws:kms' });
export const STORAGE_CLASS = text('storage-class', { arg: 'CLASS', help: 'e.g. STANDARD_IA, INTELLIGENT_TIERING' });

export const S3_FLAGS: FlagGroup = {
  title: 'S3 options',
  flags: [AWS_CONFIG, PROFILE, ENDPOINT, REGION, SSE, SSE_KMS_KEY_ID, STORAGE_CLASS] as Flag<unknown>[],
};

export const AZURE_CONFIG = text('azure-config', {
  arg: 'FILE',
  help:
    "credentials file uploaded with the job, as the Azure CLI's config:\n" +
    '[storage] with connection_string, or account + key, or sas_token, or\n' +
    'tenant_id + client_id + client_secret, or auth_mode = login (managed\n' +
    'identity); blob_endpoint = URL for an emulator or another cloud',
});

export const AZURE_FLAGS: FlagGroup = {
  title: 'Azure Blob options',
  flags: [AZURE_CONFIG],
  note:
    '  without it, the environment: AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT +\n' +
    '  AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET,\n' +
    '  AZURE_STORAGE_AUTH_MODE=login (managed identity); AZURE_STORAGE_SERVICE_ENDPOINT for the endpoint',
};

export function storeSettings(p: Args, env: Env, cwd: string): StoreConfig {
  const s3 = s3Settings(p, env, cwd);
  const azure = Object.freeze({
    configFile: jobFile(p.get(AZURE_CONFIG), AZURE_CONFIG, cwd, 'Azure credentials'),
    maxAttempts: s3.maxAttempts,
    idleTimeoutMs: s3.idleTimeoutMs,
  });
  return Object.freeze({ s3, azure, net: netSettings(p, env, cwd) });
}

export function s3Settings(p: Args, env: Env, cwd: string): S3Settings {
  return Object.freeze({
    endpoint: p.get(ENDPOINT) ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? undefined,
    region: p.get(REGION),
    profile: p.get(PROFILE),
    awsConfigFile: jobFile(p.get(AWS_CONFIG), AWS_CONFIG, cwd, 'AWS config'),
    maxAttempts: p.get(RETRIES),
    idleTimeoutMs: p.get(TIMEOUT) * 1000,
    objectParams: objectParams(p),
  });
}

function objectParams(p: Args): ObjectParams {
  const sse = p.get(SSE);
  const kmsKey = p.get(SSE_KMS_KEY_ID);
  const storageClass = p.get(STORAGE_CLASS);
  if (kmsKey !== undefined && sse !== 'aws:kms') throw usageError('--sse-kms-key-id needs --sse aws:kms');
  if (storageClass !== undefined && !/^[A-Z_]+$/.test(storageClass))
    throw usageError(
      `--storage-class looks wrong: '${storageClass}'`,
      'e.g. STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR',
    );
  return Object.freeze({
    ...(sse ? { ServerSideEncryption: sse } : {}),
    ...(kmsKey ? { SSEKMSKeyId: kmsKey } : {}),
    ...(storageClass ? { StorageClass: storageClass } : {}),
  });
}
