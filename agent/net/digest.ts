// HTTP Digest (RFC 7616) as a proxy asks for it: MD5 or SHA-256 (and their -sess forms),
// qop=auth (or none, RFC 2069), a counted nonce (nc), and a stale nonce renewed without asking
// anyone for the password again.
import { createHash, randomBytes } from 'node:crypto';
import { digestAlgorithm, type AuthChallenge } from './challenge.ts';

const quote = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;

/** One proxy's Digest state: the current nonce and how many times it was used. */
export class DigestSession {
  private nc = 0;
  private readonly algorithm: string;
  private readonly hash: 'md5' | 'sha256';

  constructor(
    private readonly challenge: AuthChallenge,
    private readonly user: string,
    private readonly password: string,
    private readonly cnonce = () => randomBytes(16).toString('hex'),
  ) {
    this.algorithm = digestAlgorithm(challenge) ?? 'MD5';
    this.hash = this.algorithm.startsWith('SHA-256') ? 'sha256' : 'md5';
  }

  get nonce(): string {
    return this.challenge.params.nonce ?? '';
  }

  private h(s: string): string {
    return createHash(this.hash).update(s, 'utf8').digest('hex');
  }

  /** The Proxy-Authorization value for one request (`uri` is the request target as sent). */
  authorization(method: string, uri: string): string {
    const p = this.challenge.params;
    const realm = p.realm ?? '';
    const qop = (p.qop ?? '')
      .split(',')
      .map((q) => q.trim())
      .includes('auth')
      ? 'auth'
      : undefined;
    const cnonce = this.cnonce();
    const nc = (++this.nc).toString(16).padStart(8, '0');
    let ha1 = this.h(`${this.user}:${realm}:${this.password}`);
    if (this.algorithm.endsWith('-SESS')) ha1 = this.h(`${ha1}:${this.nonce}:${cnonce}`);
    const ha2 = this.h(`${method}:${uri}`);
    const response = qop
      ? this.h(`${ha1}:${this.nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
      : this.h(`${ha1}:${this.nonce}:${ha2}`);
    const parts = [
      `username=${quote(this.user)}`,
      `realm=${quote(realm)}`,
      `nonce=${quote(this.nonce)}`,
      `uri=${quote(uri)}`,
      `algorithm=${p.algorithm ?? 'MD5'}`,
      `response=${quote(response)}`,
      ...(qop ? [`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`] : []),
      ...(p.opaque !== undefined ? [`opaque=${quote(p.opaque)}`] : []),
    ];
    return `Digest ${parts.join(', ')}`;
  }
}

/** True when a Digest challenge only says our nonce expired: answer again with the same password. */
export function isStale(c: AuthChallenge): boolean {
  return c.scheme === 'digest' && c.params.stale?.toLowerCase() === 'true';
}
