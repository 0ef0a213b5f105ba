import { homedir } from 'node:os';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Settings } from '../config.ts';
import { usageError } from '../errors.ts';
import { PROXY_RETRY_HEADER, type Network } from '../net/index.ts';
import { CONNECT_TIMEOUT_MS } from '../store/open.ts';
import { profileKind, readProfileFile } from './credentials.ts';
import type { CredentialStory, Identity } from './identity.ts';
import { renewOnExpiry, watchClock, type ClientNotes, type Clock } from './renew.ts';
import { makeIdentity, stsEndpoint, type IdentityParts } from './sts.ts';

type Env = Record<string, string | undefined>;

/**
 * One S3 client for the whole run. `sockets` must cover every request in flight
 * (files in flight × parts per file): the SDK queues silently past maxSockets.
 */
export interface MadeClient {
  client: S3Client;
  endpoint?: string;
  /** "through proxy http://host:port" when the endpoint is reached through one, else ''. */
  via: string;
  /** Secret values the client was given (keys, token): masked in all output. */
  secrets: string[];
  /** The credentials it signs with, renewed as they near expiry; where they came from. */
  identity: Identity;
  /** What the identity was made of (for GetCallerIdentity in `ferry check`). */
  parts: IdentityParts;
  region: string;
  /** The server's clock against ours, from the last answer. */
  clock: Clock;
}

/** What an --aws-config file gives: static keys (else the SDK's chain reads the file), region, endpoint. */
interface FromFile {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region?: string;
  endpoint?: string;
  stsEndpoint?: string;
  secrets: string[];
  story?: CredentialStory;
}

async function fromConfigFile(s: S3Settings, profile: string): Promise<FromFile> {
  if (!s.awsConfigFile) return { secrets: [] };
  const { settings, keys } = await readProfileFile(s.awsConfigFile, profile);
  const secrets = [settings.accessKeyId, settings.secretAccessKey, settings.sessionToken].filter(
    (v): v is string => !!v,
  );
  const story = { from: `profile '${profile}' in ${s.awsConfigFile}`, ...profileKind(keys) };
  const staticExpiry = parseExpiry(settings.expiration, story.from);
  const found: FromFile = {
    region: settings.region,
    endpoint: settings.endpointUrl,
    stsEndpoint: settings.stsEndpointUrl,
    secrets,
    story: { ...story, ...(staticExpiry && !story.refreshable ? { staticExpiry } : {}) },
  };
  if (settings.accessKeyId && settings.secretAccessKey) {
    const { accessKeyId, secretAccessKey, sessionToken } = settings;
    return { ...found, credentials: { accessKeyId, secretAccessKey, sessionToken } };
  }
  if (settings.accessKeyId || settings.secretAccessKey) {
    throw usageError(
      `profile '${profile}' in ${s.awsConfigFile} has only one of aws_access_key_id / aws_secret_access_key`,
      'add both keys to the profile',
    );
  }
  // Role, SSO or credential_process profiles: let the SDK's own chain read this file.
  process.env.AWS_CONFIG_FILE = s.awsConfigFile;
  process.env.AWS_SHARED_CREDENTIALS_FILE = s.awsConfigFile;
  process.env.AWS_PROFILE = profile;
  return found;
}

/**
 * Bodies ferry sends carry Content-MD5, which is signed and checked by the server; hashing each
 * body a second time for the signature (SHA-256) would only cost CPU.
 */
function signWithoutPayloadHash(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers?: Record<string, string> } | undefined;
      const sends = context.commandName === 'UploadPartCommand' || context.commandName === 'PutObjectCommand';
      if (sends && req?.headers?.['content-md5']) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'ferryUnsignedPayload' },
  );
}

/**
 * A 407 the network's agent has learnt from (the proxy's scheme, or a renewed Digest nonce) is
 * worth sending again: the SDK retries it like a transient failure.
 */
function retryProxyChallenges(client: S3Client): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const res = (err as { $response?: { headers?: Record<string, string> } }).$response;
        if (res?.headers?.[PROXY_RETRY_HEADER]) Object.assign(err as object, { $retryable: {} });
        throw err;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'ferryProxyChallengeRetry' },
  );
}

/** S3-compatible servers (Ceph RGW, MinIO): path-style addressing, no aws-chunked trailing checksums. */
const COMPATIBLE: Partial<S3ClientConfig> = {
  forcePathStyle: true,
  // Ceph 16 answers 411 to aws-chunked bodies; integrity is sent as Content-MD5 instead.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
};

function parseExpiry(text: string | undefined, where: string): Date | undefined {
  if (!text) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime()))
    throw usageError(`the expiry '${text}' of ${where} is not a date`, 'write it as 2026-11-26T15:00:00Z');
  return d;
}

/** Where the credentials come from when no static keys are given in --aws-config. */
function storyWithoutFile(env: Env): CredentialStory {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const staticExpiry = parseExpiry(env.AWS_CREDENTIAL_EXPIRATION, 'AWS_CREDENTIAL_EXPIRATION');
    const kind = env.AWS_SESSION_TOKEN ? 'static keys with a session token' : 'static keys';
    return { from: 'the environment (AWS_ACCESS_KEY_ID)', kind, refreshable: false, staticExpiry };
  }
  const profile = env.AWS_PROFILE ? `profile '${env.AWS_PROFILE}' of ` : '';
  return {
    from: `${profile}the SDK's default chain (~/.aws, web identity, container or instance metadata)`,
    kind: 'default chain',
    refreshable: true,
  };
}

export async function makeS3Client(
  s: S3Settings,
  net: Network,
  env: Env = process.env,
  notes?: ClientNotes & { mask(secrets: string[]): void },
): Promise<MadeClient> {
  ensureHome();
  const file = await fromConfigFile(s, s.profile ?? env.AWS_PROFILE ?? 'default');
  const secrets = [env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, ...file.secrets];
  const endpoint = checkEndpoint(s.endpoint ?? file.endpoint);
  const region = s.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? file.region ?? 'us-east-1';
  const url = endpoint ?? `https://s3.${region}.amazonaws.com`;
  await net.prepare(url);
  // --timeout bounds silence, not duration: a socket with no byte in either direction for that
  // long is abandoned and the request retried (a server that never answers, or a body that stalls
  // half-way). A total time limit would cut off a large part on a slow but moving link.
  const requestHandler = new NodeHttpHandler({
    connectionTimeout: CONNECT_TIMEOUT_MS,
    socketTimeout: s.idleTimeoutMs,
    ...net.agents,
  });
  const story = file.story ?? storyWithoutFile(env);
  const statics = file.credentials ?? (story.refreshable ? undefined : envKeys(env));
  const parts: IdentityParts = {
    story,
    statics,
    region,
    sts: stsEndpoint(endpoint, file.stsEndpoint, env),
    requestHandler,
    onSecrets: (v) => notes?.mask(v),
  };
  const identity = makeIdentity(parts);
  const client = new S3Client({
    region,
    credentials: identity.provider,
    maxAttempts: s.maxAttempts,
    retryMode: 'standard',
    followRegionRedirects: true,
    requestHandler,
    ...(endpoint !== undefined ? { endpoint, ...COMPATIBLE } : {}),
  });
  signWithoutPayloadHash(client);
  retryProxyChallenges(client);
  renewOnExpiry(client, identity, notes);
  const clock: Clock = {};
  watchClock(client, clock, notes);
  const masked = secrets.filter((v): v is string => !!v);
  return { client, endpoint, via: net.describe(url), secrets: masked, identity, parts, region, clock };
}

function checkEndpoint(endpoint: string | undefined): string | undefined {
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw usageError(
      `endpoint '${endpoint}' is not an http(s) URL`,
      'write it as https://host[:port] or http://127.0.0.1:9000',
    );
  }
  return endpoint;
}

function envKeys(env: Env) {
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken } : undefined;
}

/**
 * The SDK looks for ~/.aws and crashes (uv_os_homedir ENOENT) when HOME is unset and the user has
 * no passwd entry, as on some compute nodes. Point it at a directory that does not exist instead:
 * the SDK then finds no shared config, as intended. Only ferry's own process sees this; the
 * solver gets the environment ferry was started with.
 */
function ensureHome(): void {
  if (process.env.HOME) return;
  try {
    homedir();
  } catch {
    process.env.HOME = '/nonexistent/ferry-no-home';
  }
}
