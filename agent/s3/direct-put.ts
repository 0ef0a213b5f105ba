// A small file's PutObject sent without the SDK's middleware stack. Through the SDK a 10 KB PutObject
// cost ~1.2 CPU-ms on Node 24 (the stack resolved per call, endpoint rules, user agent, retry
// bookkeeping, schema serde, several hashes); signed and sent straight through the same request
// handler, 0.43 ms (2,000 PUTs to Ceph: scripts/bench small and wan, docs/performance.md). The SDK
// stays the authority on how a request looks: the first small PUT to a bucket goes through it and
// its final request (addressing, path, region, constant headers) is learnt; later ones are built like
// it. Anything but a 200 with an ETag, or a failed connection, is sent again through the SDK, whose
// retries, redirects, credential renewal, clock correction and error classification then apply.
import type { PutObjectCommand, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, HttpResponse, Provider } from '@smithy/types';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { SMALL_FILE } from '../config.ts';
import { PROXY_RETRY_HEADER } from '../net/index.ts';
import { Sha256 } from './sts.ts';

/** How a bucket's small PutObject requests look, learnt from one the SDK sent and had accepted. */
export interface PutShape {
  protocol: string;
  hostname: string;
  port?: number;
  /** The path before the encoded key: `/bucket/` (path-style) or `/` (virtual-hosted). */
  pathPrefix: string;
  query: Record<string, string>;
  /** Headers the same for every small PUT with these parameters (lower-case names). */
  headers: Record<string, string>;
  region: string;
  service: string;
}

/** Headers of one request only: computed again (or left out) for each. */
const PER_REQUEST = new Set([
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'content-length',
  'content-md5',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'expect',
]);

/** A key as the SDK puts it in a path: each segment URI-encoded, '/' kept. */
export function encodeKey(key: string): string {
  return key.split('/').map(extendedEncodeURIComponent).join('/');
}

interface SentRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
}

/**
 * The shape of `req`, the signed request the SDK sent for `key`, or undefined when it is not one this
 * module can copy: not SigV4 (SigV4a, anonymous), a body encoding (aws-chunked), a path it did not
 * build from the key as encodeKey does, a query with repeated or empty values.
 */
export function learnShape(req: SentRequest, key: string): PutShape | undefined {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  const scope = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request,/.exec(
    headers.authorization ?? '',
  );
  const path = `/${encodeKey(key)}`;
  if (req.method !== 'PUT' || !scope || headers['content-encoding'] !== undefined || !req.path.endsWith(path)) return;
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v !== 'string') return;
    query[k] = v;
  }
  for (const k of Object.keys(headers)) {
    if (PER_REQUEST.has(k) || k.startsWith('x-amz-checksum-') || k.startsWith('x-amz-sdk-checksum')) delete headers[k];
  }
  const { protocol, hostname, port } = req;
  return {
    protocol,
    hostname,
    port,
    pathPrefix: req.path.slice(0, -path.length + 1),
    query,
    headers,
    region: scope[1],
    service: scope[2],
  };
}

/** The request for `key` with `body` in the shape learnt (unsigned). */
export function shapedRequest(shape: PutShape, key: string, body: Buffer, md5: string): HttpRequest {
  return new HttpRequest({
    method: 'PUT',
    protocol: shape.protocol,
    hostname: shape.hostname,
    port: shape.port,
    path: shape.pathPrefix + encodeKey(key),
    query: { ...shape.query },
    headers: {
      ...shape.headers,
      'content-length': String(body.length),
      'content-md5': md5,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    },
    body,
  });
}

type Resolved = {
  credentials: Provider<AwsCredentialIdentity>;
  requestHandler: NodeHttpHandler;
  systemClockOffset?: number;
};

/** How many small PUTs went direct, and how many of those were sent again through the SDK. */
export interface DirectCounts {
  direct: number;
  again: number;
}

class DirectPut {
  private readonly shapes = new Map<string, PutShape>();
  private signer?: SignatureV4;
  readonly counts: DirectCounts = { direct: 0, again: 0 };

  constructor(private readonly client: S3Client) {}

  /** The client's credentials signing: made once a shape is learnt (the region and service are the shape's). */
  private signerFor(c: Resolved): SignatureV4 {
    this.signer ??= new SignatureV4({
      credentials: c.credentials,
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    return this.signer;
  }

  async send(cmd: PutObjectCommand, signal?: AbortSignal): Promise<{ ETag?: string }> {
    const input = cmd.input as PutObjectCommandInput & { Body: Buffer; ContentMD5: string };
    if (input.Body.length > SMALL_FILE) return this.client.send(cmd, { abortSignal: signal });
    const id = shapeId(input);
    const shape = this.shapes.get(id);
    if (!shape) return this.learn(cmd, id, signal);
    const etag = await this.direct(shape, input, signal);
    if (etag !== undefined) return { ETag: etag };
    this.counts.again++;
    return this.client.send(cmd, { abortSignal: signal });
  }

  /** Sends through the SDK, learning the shape of its final request once the server took it. */
  private async learn(cmd: PutObjectCommand, id: string, signal?: AbortSignal): Promise<{ ETag?: string }> {
    const key = cmd.input.Key!;
    cmd.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const res = out.response as HttpResponse;
        if (res.statusCode === 200 && !this.shapes.has(id)) {
          const shape = learnShape(args.request as SentRequest, key);
          if (shape) this.shapes.set(id, shape);
        }
        return out;
      },
      { step: 'deserialize', priority: 'low', name: 'ferryLearnPutShape' },
    );
    return this.client.send(cmd, { abortSignal: signal });
  }

  /** The ETag of a direct PUT the server took; undefined when it must go through the SDK instead. */
  private async direct(
    shape: PutShape,
    input: { Key?: string; Body: Buffer; ContentMD5: string },
    signal?: AbortSignal,
  ) {
    const c = this.client.config as unknown as Resolved;
    this.counts.direct++;
    try {
      // A 407 the network's agent learnt from (a proxy's scheme, a renewed Digest nonce): once more,
      // as the SDK path does (client.ts retryProxyChallenges).
      for (let attempt = 0; attempt < 2; attempt++) {
        const req = shapedRequest(shape, input.Key!, input.Body, input.ContentMD5);
        const signed = await this.signerFor(c).sign(req, {
          signingDate: new Date(Date.now() + (c.systemClockOffset ?? 0)),
          signingRegion: shape.region,
          signingService: shape.service,
        });
        const { response } = await c.requestHandler.handle(signed as HttpRequest, { abortSignal: signal });
        for await (const _ of response.body as AsyncIterable<unknown>); // the connection goes back to the pool
        const etag = response.headers.etag;
        if (response.statusCode === 200 && etag) return etag;
        if (response.statusCode !== 407 || !response.headers[PROXY_RETRY_HEADER]) return undefined;
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      // refused, reset, timed out: the SDK's attempt says what it is
    }
    return undefined;
  }
}

/** One learnt shape per bucket and object parameters (SSE, storage class, content type). */
function shapeId(input: PutObjectCommandInput): string {
  const { Key: _k, Body: _b, ContentLength: _l, ContentMD5: _m, ...rest } = input;
  return JSON.stringify(rest);
}

const perClient = new WeakMap<S3Client, DirectPut>();

function directPut(client: S3Client): DirectPut {
  let d = perClient.get(client);
  if (!d) perClient.set(client, (d = new DirectPut(client)));
  return d;
}

/** Sends a PutObject whose Body is a Buffer, with its ContentMD5: a small one direct once its bucket is learnt. */
export function sendPut(client: S3Client, cmd: PutObjectCommand, signal?: AbortSignal): Promise<{ ETag?: string }> {
  return directPut(client).send(cmd, signal);
}

/** How many small PUTs of this client went direct (and were sent again through the SDK). */
export function directCounts(client: S3Client): DirectCounts {
  return directPut(client).counts;
}
