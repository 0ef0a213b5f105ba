// What ferry knows of one proxy's authentication, and the handshake that answers its 407s.
import type { Socket } from 'node:net';
import { parseChallenges, strongest, type AuthChallenge } from './challenge.ts';
import type { ProxyCredentials } from './credentials.ts';
import { DigestSession, isStale } from './digest.ts';
import { NegotiateError, ProxyAuthError } from './errors.ts';
import { negotiate, ticket, type Ticket } from './negotiate.ts';
import type { Exchange } from './wire.ts';
import { authenticateMessage, negotiateMessage, parseChallenge } from './ntlm.ts';
import { exchange, headerValues, type Answer } from './wire.ts';

export type Scheme = 'negotiate' | 'basic' | 'digest' | 'ntlm' | 'none';

/** Schemes that authenticate a connection (a handshake on it), not each request. */
export const connectionScheme = (s: Scheme | undefined) => s === 'ntlm' || s === 'negotiate';

/** Digest nonces kept for the next requests (about as many as requests go to one proxy at once). */
const MAX_IDLE = 64;

/** What one request sends through a proxy (see ProxyAuth.sending). */
export interface Sent {
  authorization?: string;
  sent?: Scheme;
  /** Its Digest nonce (for `learn`). */
  nonce?: string;
  /** The Digest session of that nonce: this request's own until `answered` gives it back. */
  session?: DigestSession;
}

/** Non-stale Digest 407s in a row, after the proxy took our credentials, taken for replays (see ProxyAuth). */
const REPLAYS_IN_A_ROW = 16;

/**
 * One proxy's authentication state, shared by every connection to it: the scheme learnt from its
 * challenges (Negotiate when the user has a Kerberos ticket, else the strongest ferry has an
 * account for) and, for Digest, the current nonce. What it offered and how ferry answered are kept
 * for `ferry check`.
 */
export class ProxyAuth {
  scheme?: Scheme;
  /** The schemes of the proxy's last challenge, as it wrote them. */
  offered: string[] = [];
  /** The user's ticket when the proxy offered Negotiate (why none, when it was passed over for an account). */
  ticket?: Ticket;
  /** Negotiate handshakes that ended with the proxy's final token verified, and without one. */
  readonly mutual = { verified: 0, missing: 0 };
  /**
   * Digest nonces no request is using now. A nonce serves one request at a time: concurrent
   * requests sharing one reach the proxy out of their nonce-count order, and squid then takes the
   * nonce for a replay and refuses it, without stale=true (seen in CI: one of 40 parallel PUTs, exit
   * 77 "refused our credentials"). A request that finds none free goes without credentials: its 407
   * brings a nonce of its own, so there are about as many as requests at once.
   */
  private readonly idle: DigestSession[] = [];
  /**
   * Digest nonces the proxy has taken (a request sent with one was answered with anything but 407).
   * A non-stale 407 to a request that carried one of them is not about the password (a nonce the
   * proxy dropped early): its nonce is renewed.
   */
  private readonly taken = new Set<string>();
  /**
   * 407s (not stale) since the proxy last took our Digest credentials: once it has taken them, a
   * burst of requests may each be answered so before any of them succeeds; only this many in a row,
   * with no success between, mean the password is refused now.
   */
  private refusedSinceTaken: number | undefined;

  constructor(
    /** http://host:port, for messages. */
    readonly proxy: string,
    /** The proxy's host name: Negotiate asks for a ticket to HTTP/<host>. */
    readonly host: string,
    readonly creds: ProxyCredentials | undefined,
    /** The user's Kerberos ticket, asked of GSSAPI each time Negotiate is offered (unit tests pass their own). */
    readonly tickets: () => Ticket = ticket,
  ) {}

  /** Whether a 407 could be answered at all: an account, or a Kerberos ticket (asked of GSSAPI). */
  mayAnswer(): boolean {
    return !!this.creds || this.tickets().ok;
  }

  /** As whom ferry answers: the principal of the ticket, the account, or no one yet. */
  who(): string | undefined {
    if (this.scheme === 'negotiate') return this.ticket?.ok ? this.ticket.principal : undefined;
    return this.scheme && this.scheme !== 'none' ? this.creds?.account : undefined;
  }

  /**
   * What a request sent now carries: its Proxy-Authorization value (none for a connection scheme,
   * before any challenge, or when every Digest nonce is in use) and the scheme it is of. Hand it
   * back to `answered` once the proxy answers, or the request ends without an answer.
   */
  sending(method: string, uri: string): Sent {
    if (!this.creds) return {};
    if (this.scheme === 'basic') {
      const token = Buffer.from(`${this.creds.account}:${this.creds.password}`).toString('base64');
      return { authorization: `Basic ${token}`, sent: 'basic' };
    }
    if (this.scheme !== 'digest') return {};
    const session = this.idle.pop();
    if (!session) return {};
    return { authorization: session.authorization(method, uri), sent: 'digest', nonce: session.nonce, session };
  }

  /**
   * The proxy answered a request that carried `s` with `status` (undefined: it ended unanswered).
   * A Digest nonce it took serves the next request; one it refused, or whose fate is unknown, is dropped.
   */
  answered(s: Sent, status: number | undefined): void {
    const session = s.session;
    s.session = undefined; // once: a second call must not hand the nonce to two requests
    if (!session || status === undefined || status === 407) return;
    if (this.taken.size >= 64) this.taken.clear(); // nonces are renewed every few requests: keep the recent ones
    this.taken.add(session.nonce);
    this.refusedSinceTaken = 0;
    if (this.idle.length < MAX_IDLE) this.idle.push(session);
  }

  /**
   * A 407 answered a request that carried credentials of scheme `sent` (or none). Learns what to
   * answer next (a stale Digest nonce is renewed with the same password), or throws ProxyAuthError
   * when the proxy refused them, wants none ferry can give, or ferry has none.
   */
  learn(challenges: AuthChallenge[], sent: Scheme | undefined, nonce?: string): void {
    const offered = (this.offered = [...new Set(challenges.map((c) => c.name))]);
    const chosen = strongest(challenges);
    if (sent === 'negotiate')
      throw new NegotiateError(this.proxy, this.host, offered, { kind: 'refused' }, this.ticket);
    if (sent && sent !== 'none') {
      const stale = chosen !== undefined && isStale(chosen);
      const replay = stale || (nonce !== undefined && this.taken.has(nonce));
      const burst = !replay && this.refusedSinceTaken !== undefined && ++this.refusedSinceTaken <= REPLAYS_IN_A_ROW;
      const renew = replay || burst;
      if (sent === 'digest' && chosen?.scheme === 'digest' && renew && this.creds) {
        this.idle.push(new DigestSession(chosen, this.creds.account, this.creds.password));
        return;
      }
      throw new ProxyAuthError('refused', this.proxy, offered, sent.toUpperCase(), this.creds?.account);
    }
    if (challenges.some((c) => c.scheme === 'negotiate')) {
      this.ticket = this.tickets();
      if (this.ticket.ok) {
        this.scheme = 'negotiate';
        return;
      }
      if (!chosen || !this.creds)
        throw new NegotiateError(this.proxy, this.host, offered, this.ticket, undefined, chosen);
    }
    if (!chosen) throw new ProxyAuthError('unsupported', this.proxy, offered);
    if (!this.creds) throw new ProxyAuthError('no-credentials', this.proxy, offered);
    this.scheme = chosen.scheme as Scheme;
    if (chosen.scheme === 'digest') this.idle.push(new DigestSession(chosen, this.creds.account, this.creds.password));
  }
}

const challengesOf = (a: Answer) => parseChallenges(headerValues(a.head, 'proxy-authenticate'));

/**
 * Sends one request through the proxy (a CONNECT, or a GET probe) until it is answered with
 * anything but 407: Basic and Digest by sending it again with credentials, NTLM by its three
 * messages and Negotiate by its tokens on one kept-alive connection (the one returned, now
 * authenticated).
 */
export async function authenticated(auth: ProxyAuth, x: Exchange): Promise<{ socket: Socket; answer: Answer }> {
  let socket = await x.open();
  try {
    for (let round = 0; round < 4; round++) {
      if (auth.scheme === 'ntlm') return { socket, answer: await ntlm(auth, socket, x) };
      if (auth.scheme === 'negotiate') return { socket, answer: await negotiate(auth, socket, x) };
      const sent = auth.sending(x.method, x.uri);
      const answer = await exchange(socket, x.request(sent.authorization), x.method, x.timeoutMs).catch(
        (err: unknown) => {
          auth.answered(sent, undefined);
          throw err;
        },
      );
      auth.answered(sent, answer.head.status);
      if (answer.head.status !== 407) return { socket, answer };
      auth.learn(challengesOf(answer), sent.sent, sent.nonce);
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
