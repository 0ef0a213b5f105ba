import { homedir } from 'node:os';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Settings } from '../config.ts';
import { usageError } from '../errors.ts';
import { readProfileFile } from './credentials.ts';
import { makeAgents } from './proxy.ts';

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

export async function makeS3Client(s: S3Settings, sockets: number, env: Env = process.env): Promise<MadeClient> {
  ensureHome();
  const profile = s.profile ?? env.AWS_PROFILE ?? 'default';
  let credentials: S3ClientConfig['credentials'];
  let fileRegion: string | undefined;
  let fileEndpoint: string | undefined;
  const secrets = [env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter(
    (v): v is string => !!v,
  );
  if (s.awsConfigFile) {
    const { settings } = await readProfileFile(s.awsConfigFile, profile);
    for (const v of [settings.accessKeyId, settings.secretAccessKey, settings.sessionToken]) if (v) secrets.push(v);
    fileRegion = settings.region;
    fileEndpoint = settings.endpointUrl;
    if (settings.accessKeyId && settings.secretAccessKey) {
      credentials = {
        accessKeyId: settings.accessKeyId,
        secretAccessKey: settings.secretAccessKey,
        sessionToken: settings.sessionToken,
      };
    } else if (settings.accessKeyId || settings.secretAccessKey) {
      throw usageError(
        `profile '${profile}' in ${s.awsConfigFile} has only one of aws_access_key_id / aws_secret_access_key`,
        'add both keys to the profile',
      );
    } else {
      // Role, SSO or credential_process profiles: let the SDK's own chain read this file.
      process.env.AWS_CONFIG_FILE = s.awsConfigFile;
      process.env.AWS_SHARED_CREDENTIALS_FILE = s.awsConfigFile;
      process.env.AWS_PROFILE = profile;
    }
  }
  const endpoint = s.endpoint ?? fileEndpoint;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw usageError(
      `endpoint '${endpoint}' is not an http(s) URL`,
      'write it as https://host[:port] or http://127.0.0.1:9000',
    );
  }
  const region = s.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? fileRegion ?? 'us-east-1';
  const agents = makeAgents(endpoint ?? `https://s3.${region}.amazonaws.com`, s.proxy, sockets, env);
  const config: S3ClientConfig = {
    region,
    credentials,
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
  };
  if (endpoint !== undefined) {
    // S3-compatible servers (Ceph RGW, MinIO): path-style addressing, and no aws-chunked
    // trailing checksums (Ceph 16 answers 411). Integrity is sent as Content-MD5 instead.
    Object.assign(config, {
      endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }
  const client = new S3Client(config);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      // Bodies we send carry Content-MD5, which is signed and checked by the server; hashing
      // each body a second time for the signature (SHA-256) would only cost CPU.
      const req = args.request as { headers?: Record<string, string> } | undefined;
      if (
        (context.commandName === 'UploadPartCommand' || context.commandName === 'PutObjectCommand') &&
        req?.headers?.['content-md5']
      ) {
        req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 'ferryUnsignedPayload' },
  );
  if (agents.password) secrets.push(agents.password);
  return { client, endpoint, proxy: agents.proxy, secrets };
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
