// What ferry knows of one proxy's authentication, and the handshake that answers its 407s.
import type { Socket } from 'node:net';
import { parseChallenges, strongest, type AuthChallenge } from './challenge.ts';
import type { ProxyCredentials } from './credentials.ts';
import { DigestSession, isStale } from './digest.ts';
import { ProxyAuthError } from './errors.ts';
import { authenticateMessage, negotiateMessage, parseChallenge } from './ntlm.ts';
import { exchange, headerValues, type Answer } from './wire.ts';

export type Scheme = 'basic' | 'digest' | 'ntlm' | 'none';

/**
 * One proxy's authentication state, shared by every connection to it: the scheme learnt from its
 * challenges (the strongest ferry has credentials for) and, for Digest, the current nonce.
 */
export class ProxyAuth {
  scheme?: Scheme;
  private digest?: DigestSession;

  constructor(
    /** http://host:port, for messages. */
    readonly proxy: string,
    readonly creds: ProxyCredentials | undefined,
  ) {}

  /** The Proxy-Authorization of a request under a per-request scheme (Basic, Digest), else undefined. */
  perRequest(method: string, uri: string): string | undefined {
    if (!this.creds) return undefined;
    if (this.scheme === 'basic') {
      return `Basic ${Buffer.from(`${this.creds.account}:${this.creds.password}`).toString('base64')}`;
    }
    if (this.scheme === 'digest') return this.digest!.authorization(method, uri);
    return undefined;
  }

  /**
   * A 407 answered a request that carried credentials of scheme `sent` (or none). Learns what to
   * answer next (a stale Digest nonce is renewed with the same password), or throws ProxyAuthError
   * when the proxy refused them, wants none ferry can give, or ferry has none.
   */
  learn(challenges: AuthChallenge[], sent: Scheme | undefined): void {
    const offered = [...new Set(challenges.map((c) => c.name))];
    const chosen = strongest(challenges);
    if (!chosen) throw new ProxyAuthError('unsupported', this.proxy, offered);
    if (!this.creds) throw new ProxyAuthError('no-credentials', this.proxy, offered);
    if (sent && sent !== 'none') {
      if (sent === 'digest' && chosen.scheme === 'digest' && isStale(chosen)) {
        this.digest = new DigestSession(chosen, this.creds.account, this.creds.password);
        return;
      }
      throw new ProxyAuthError('refused', this.proxy, offered, sent.toUpperCase(), this.creds.account);
    }
    this.scheme = chosen.scheme as Scheme;
    if (chosen.scheme === 'digest') this.digest = new DigestSession(chosen, this.creds.account, this.creds.password);
  }
}

const challengesOf = (a: Answer) => parseChallenges(headerValues(a.head, 'proxy-authenticate'));

export interface Exchange {
  /** A new connection to the proxy. */
  open(): Promise<Socket>;
  /** The request head (ending in an empty line), with this Proxy-Authorization if given. */
  request(authorization?: string): string;
  method: string;
  uri: string;
  timeoutMs: number;
}

/**
 * Sends one request through the proxy (a CONNECT, or a HEAD probe) until it is answered with
 * anything but 407: Basic and Digest by sending it again with credentials, NTLM by its three
 * messages on one kept-alive connection (the one returned, now authenticated).
 */
export async function authenticated(auth: ProxyAuth, x: Exchange): Promise<{ socket: Socket; answer: Answer }> {
  let socket = await x.open();
  try {
    for (let round = 0; round < 4; round++) {
      if (auth.scheme === 'ntlm') return { socket, answer: await ntlm(auth, socket, x) };
      const authorization = auth.perRequest(x.method, x.uri);
      const answer = await exchange(socket, x.request(authorization), x.method, x.timeoutMs);
      if (answer.head.status !== 407) return { socket, answer };
      auth.learn(challengesOf(answer), authorization ? auth.scheme : undefined);
      if (!answer.reusable) {
        socket.destroy();
        socket = await x.open();
      }
    }
    throw new Error(`the proxy ${auth.proxy} kept asking for credentials`);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** NTLM: negotiate, challenge, authenticate, all on `socket`. */
async function ntlm(auth: ProxyAuth, socket: Socket, x: Exchange): Promise<Answer> {
  const first = await exchange(
    socket,
    x.request(`NTLM ${negotiateMessage().toString('base64')}`),
    x.method,
    x.timeoutMs,
  );
  if (first.head.status !== 407) return first;
  const offered = challengesOf(first);
  const token = offered.find((c) => c.scheme === 'ntlm')?.token;
  if (!token) auth.learn(offered, 'ntlm');
  if (!first.reusable)
    throw new Error(`the proxy ${auth.proxy} closed the connection in the middle of the NTLM handshake`);
  const creds = auth.creds!;
  const type3 = authenticateMessage(
    { domain: creds.domain, user: creds.user, password: creds.password },
    parseChallenge(Buffer.from(token!, 'base64')),
  );
  const last = await exchange(socket, x.request(`NTLM ${type3.toString('base64')}`), x.method, x.timeoutMs);
  if (last.head.status === 407) auth.learn(challengesOf(last), 'ntlm');
  return last;
}
