// EC2 spot interruption notices through IMDSv2: a session token (PUT /latest/api/token), then
// GET /latest/meta-data/spot/instance-action — 404 until AWS schedules the interruption, then 200
// {"action": "terminate" | "stop" | "hibernate", "time": "2026-…Z"}, about two minutes ahead.
import { metadataRequest } from './http.ts';
import { endpointUrl, type Env, type Notice, type NoticeSource } from './source.ts';

const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const ACTION_PATH = '/latest/meta-data/spot/instance-action';

/**
 * The endpoint as the AWS SDKs read it: AWS_EC2_METADATA_SERVICE_ENDPOINT, else by
 * AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (IPv6: http://[fd00:ec2::254]), else http://169.254.169.254.
 * Undefined when AWS_EC2_METADATA_DISABLED is true; throws when the variable is not a URL.
 */
export function ec2Endpoint(env: Env): URL | undefined {
  if (env.AWS_EC2_METADATA_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const given = env.AWS_EC2_METADATA_SERVICE_ENDPOINT?.trim();
  if (given) return endpointUrl(given, 'AWS_EC2_METADATA_SERVICE_ENDPOINT');
  const mode = env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE?.trim().toLowerCase();
  return new URL(mode === 'ipv6' ? 'http://[fd00:ec2::254]' : 'http://169.254.169.254');
}

/** An `instance-action` document as a notice; throws on one that is not (not AWS's: its documents are JSON). */
function noticeOf(body: string): Notice {
  type Doc = { action?: unknown; time?: unknown } | null;
  let doc: Doc = null;
  try {
    doc = JSON.parse(body) as Doc;
  } catch {
    // not JSON: said below
  }
  if (!doc || typeof doc.action !== 'string') throw new Error(`${ACTION_PATH} answered 200 without an action`);
  const time = typeof doc.time === 'string' && !Number.isNaN(Date.parse(doc.time)) ? doc.time : undefined;
  return { cloud: 'ec2', action: doc.action, time };
}

export class Ec2Notices implements NoticeSource {
  readonly cloud = 'ec2' as const;
  private token?: { value: string; at: number };

  constructor(
    readonly endpoint: URL,
    /** The token's lifetime asked for; it is renewed at half of it (and on a 401). */
    private readonly ttlSeconds: number,
    private readonly timeoutMs: number,
  ) {}

  get where(): string {
    return `${new URL(ACTION_PATH, this.endpoint)}`;
  }

  private async fetchToken(timeoutMs: number, signal: AbortSignal): Promise<string> {
    const a = await metadataRequest(new URL('/latest/api/token', this.endpoint), {
      method: 'PUT',
      headers: { [TTL_HEADER]: String(this.ttlSeconds) },
      timeoutMs,
      signal,
    });
    if (a.status !== 200 || !a.body) throw new Error(`the token request was answered ${a.status}`);
    this.token = { value: a.body.trim(), at: Date.now() };
    return this.token.value;
  }

  async probe(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    await this.fetchToken(timeoutMs, signal);
    return true;
  }

  private async tokenNow(signal: AbortSignal): Promise<string> {
    const fresh = this.token && Date.now() - this.token.at < (this.ttlSeconds * 1000) / 2;
    return fresh ? this.token!.value : this.fetchToken(this.timeoutMs, signal);
  }

  async check(signal: AbortSignal): Promise<Notice | undefined> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokenNow(signal);
      const a = await metadataRequest(new URL(ACTION_PATH, this.endpoint), {
        headers: { [TOKEN_HEADER]: token },
        timeoutMs: this.timeoutMs,
        signal,
      });
      if (a.status === 404) return undefined;
      if (a.status === 200) return noticeOf(a.body);
      if (a.status === 401 && attempt === 0) {
        this.token = undefined; // expired or refused: a new one, once
        continue;
      }
      throw new Error(`${ACTION_PATH} was answered ${a.status}`);
    }
  }
}
