import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { createHash, createHmac, createSecretKey, type Hash, type Hmac, type KeyObject } from 'node:crypto';
import { getDefaultRoleAssumer, getDefaultRoleAssumerWithWebIdentity } from '@aws-sdk/nested-clients/sts';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, SourceData } from '@smithy/types';
import { EXIT, FerryError } from '../errors.ts';
import { Identity, type CredentialStory } from './identity.ts';

type Env = Record<string, string | undefined>;

/**
 * Where STS calls go: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's `services` sts
 * endpoint or its endpoint_url; else, with a custom S3 endpoint, that same host (Ceph RGW and MinIO
 * serve STS on their S3 port); else AWS's STS for the region (undefined).
 */
export function stsEndpoint(s3Endpoint: string | undefined, profileSts: string | undefined, env: Env) {
  return env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL ?? profileSts ?? s3Endpoint;
}

export interface IdentityParts {
  story: CredentialStory;
  /** Keys given as such (a static profile, or the environment when no --aws-config is given). */
  statics?: AwsCredentialIdentity;
  region: string;
  sts?: string;
  requestHandler: NodeHttpHandler;
  onSecrets: (secrets: string[]) => void;
}

/**
 * The identity the S3 client signs with: static keys as given, else the SDK's chain (environment,
 * --aws-config's profile: role_arn + source_profile or credential_source, credential_process, SSO token
 * cache, web identity), its STS calls sent to `sts` through the S3 handler (same proxy, CA, timeouts).
 */
export function makeIdentity(p: IdentityParts): Identity {
  if (p.statics) {
    const keys = p.statics;
    return new Identity(async () => keys, p.story, p.onSecrets);
  }
  // No region here: the SSO client takes clientConfig.region over the profile's sso_region.
  const clientConfig = { requestHandler: p.requestHandler };
  const stsOptions = { ...clientConfig, region: p.region, ...(p.sts ? { endpoint: p.sts } : {}) };
  const chain = defaultProvider({
    clientConfig,
    roleAssumer: getDefaultRoleAssumer(stsOptions),
    roleAssumerWithWebIdentity: getDefaultRoleAssumerWithWebIdentity(stsOptions),
  });
  const inner = async (o?: { forceRefresh?: boolean }) => {
    try {
      return await chain(o);
    } catch (err) {
      throw explainChainError(err, p.story, p.sts);
    }
  };
  return new Identity(inner, p.story, p.onSecrets);
}

/** A role the STS refused, or a credential_process that failed: 77 naming the role or the process. */
function explainChainError(err: unknown, story: CredentialStory, sts: string | undefined): unknown {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (story.role && status !== undefined && status >= 400 && status < 500 && status !== 407) {
    return new FerryError(
      `assuming role ${story.role} (${story.from}) was refused by STS at ${sts ?? 'AWS'}: ${e.name ?? status}`,
      {
        phase: 'config',
        exitCode: EXIT.noPerm,
        cause: err,
        hint:
          "check the role's trust policy: it must let the source identity call sts:AssumeRole, and its " +
          'sts:ExternalId condition must equal external_id; duration_seconds must not exceed its maximum session',
      },
    );
  }
  if (story.kind === 'credential_process' && e.name === 'CredentialsProviderError') {
    return new FerryError(`the credential_process of ${story.from} failed: ${e.message}`, {
      phase: 'config',
      exitCode: EXIT.noPerm,
      cause: err,
      hint: 'run the command by hand: it must print {"Version": 1, "AccessKeyId": …, "SecretAccessKey": …} and exit 0',
    });
  }
  return err;
}

const bytes = (d: SourceData) =>
  typeof d === 'string'
    ? d
    : ArrayBuffer.isView(d)
      ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      : new Uint8Array(d);

/** Messages this short are MACed once per key (SigV4's per-request HMAC of the access key id). */
const SHORT = 64;
/** Keys and short MACs kept (a handful per set of credentials; all dropped when past it). */
const KEPT = 256;
const keys = new Map<string, KeyObject>();
const shortMacs = new Map<string, Uint8Array>();

const keep = <T>(m: Map<string, T>, k: string, make: () => T): T => {
  let v = m.get(k);
  if (v === undefined) {
    if (m.size >= KEPT) m.clear();
    m.set(k, (v = make()));
  }
  return v;
};

/**
 * SHA-256, or HMAC-SHA-256 with a secret, as the signer asks. The signer looks up its cached signing
 * key under HMAC(secret, access key id) at every request, and a string key is turned into a key object
 * at every createHmac: 0.2 of the ~1.1 CPU-ms of a small direct PUT (a profile of 500 × 5 KB). Key
 * objects are kept per key, and the MAC of a short message under it once computed.
 */
export class Sha256 {
  private h: Hash | Hmac | undefined;
  private readonly key: string | undefined;
  private short: Buffer[] = [];
  private shortLength = 0;

  constructor(private readonly secret?: SourceData) {
    if (secret === undefined) this.h = createHash('sha256');
    else this.key = Buffer.from(bytes(secret)).toString('base64');
  }

  private hmac(): Hmac {
    const key = keep(keys, this.key!, () => createSecretKey(Buffer.from(bytes(this.secret!))));
    return createHmac('sha256', key);
  }

  update(d: SourceData) {
    if (this.h) return void this.h.update(bytes(d));
    const b = typeof d === 'string' ? Buffer.from(d) : Buffer.from(bytes(d) as Uint8Array);
    this.short.push(b);
    this.shortLength += b.length;
    if (this.shortLength <= SHORT) return;
    this.h = this.hmac();
    for (const piece of this.short) this.h.update(piece);
    this.short = [];
  }

  digest() {
    if (this.h) return Promise.resolve(new Uint8Array(this.h.digest()));
    const message = Buffer.concat(this.short);
    const mac = keep(shortMacs, `${this.key}:${message.toString('base64')}`, () => {
      return new Uint8Array(this.hmac().update(message).digest());
    });
    return Promise.resolve(new Uint8Array(mac)); // (the caller's own copy)
  }
}

/**
 * Who the credentials are (STS GetCallerIdentity, signed with them and sent through the S3 handler),
 * or why the endpoint could not say (Ceph RGW 16 answers 405 MethodNotAllowed).
 */
export async function callerIdentity(id: Identity, p: IdentityParts): Promise<string> {
  const url = new URL(p.sts ?? `https://sts.${p.region}.amazonaws.com`);
  const body = 'Action=GetCallerIdentity&Version=2011-06-15';
  const signer = new SignatureV4({ credentials: id.provider, region: p.region, service: 'sts', sha256: Sha256 });
  const req = new HttpRequest({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: '/',
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  try {
    const { response } = await p.requestHandler.handle((await signer.sign(req)) as HttpRequest);
    let text = '';
    for await (const c of response.body as AsyncIterable<Buffer>) text += c.toString();
    const tag = (n: string) => new RegExp(`<${n}>([^<]*)</${n}>`).exec(text)?.[1];
    if (response.statusCode === 200) return `${tag('Arn') ?? '?'} (account ${tag('Account') ?? '?'})`;
    const code = tag('Code') ?? '';
    return `not available (${url.host} answered GetCallerIdentity with HTTP ${response.statusCode} ${code})`;
  } catch (err) {
    return `not available (${(err as Error).message})`;
  }
}
