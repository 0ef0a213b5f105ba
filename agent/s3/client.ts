import { homedir } from 'node:os';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Settings } from '../config.ts';
import { usageError } from '../errors.ts';
import { readProfileFile } from './credentials.ts';
import { makeAgents } from '../net/proxy.ts';

/** A connection that is not up after this long is abandoned (and retried). */
const CONNECT_TIMEOUT_MS = 10_000;

type Env = Record<string, string | undefined>;

/**
 * One S3 client for the whole run. `sockets` must cover every request in flight
 * (files in flight × parts per file): the SDK queues silently past maxSockets.
 */
export interface MadeClient {
  client: S3Client;
  endpoint?: string;
  /** The proxy in use, password hidden. */
  proxy?: string;
  /** Secret values the client was given (keys, token, proxy password): masked in all output. */
  secrets: string[];
}

/** What an --aws-config file gives: static keys (else the SDK's chain reads the file), region, endpoint. */
interface FromFile {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region?: string;
  endpoint?: string;
  secrets: string[];
}

async function fromConfigFile(s: S3Settings, profile: string): Promise<FromFile> {
  if (!s.awsConfigFile) return { secrets: [] };
  const { settings } = await readProfileFile(s.awsConfigFile, profile);
  const secrets = [settings.accessKeyId, settings.secretAccessKey, settings.sessionToken].filter(
    (v): v is string => !!v,
  );
  const found: FromFile = { region: settings.region, endpoint: settings.endpointUrl, secrets };
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

/** S3-compatible servers (Ceph RGW, MinIO): path-style addressing, no aws-chunked trailing checksums. */
const COMPATIBLE: Partial<S3ClientConfig> = {
  forcePathStyle: true,
  // Ceph 16 answers 411 to aws-chunked bodies; integrity is sent as Content-MD5 instead.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
};

export async function makeS3Client(s: S3Settings, sockets: number, env: Env = process.env): Promise<MadeClient> {
  ensureHome();
  const file = await fromConfigFile(s, s.profile ?? env.AWS_PROFILE ?? 'default');
  const secrets = [env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, ...file.secrets];
  const endpoint = s.endpoint ?? file.endpoint;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw usageError(
      `endpoint '${endpoint}' is not an http(s) URL`,
      'write it as https://host[:port] or http://127.0.0.1:9000',
    );
  }
  const region = s.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? file.region ?? 'us-east-1';
  const agents = makeAgents(endpoint ?? `https://s3.${region}.amazonaws.com`, s.proxy, sockets, env);
  const client = new S3Client({
    region,
    credentials: file.credentials,
    maxAttempts: s.maxAttempts,
    retryMode: 'standard',
    followRegionRedirects: true,
    // --timeout bounds silence, not duration: a socket with no byte in either direction for that
    // long is abandoned and the request retried (a server that never answers, or a body that stalls
    // half-way). A total time limit would cut off a large part on a slow but moving link.
    requestHandler: new NodeHttpHandler({
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: s.idleTimeoutMs,
      httpAgent: agents.httpAgent,
      httpsAgent: agents.httpsAgent,
    }),
    ...(endpoint !== undefined ? { endpoint, ...COMPATIBLE } : {}),
  });
  signWithoutPayloadHash(client);
  if (agents.password) secrets.push(agents.password);
  return { client, endpoint, proxy: agents.proxy, secrets: secrets.filter((v): v is string => !!v) };
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
