// Negotiate (RFC 4559: SPNEGO over Kerberos) at a proxy, with the signed-in user's ticket: the
// system's GSSAPI (MIT libgssapi_krb5, which honours KRB5CCNAME, KRB5_CONFIG and the default cache,
// KCM and SSSD included) through ferry's own addon (agent/native/gss.c). No password reaches ferry.
// Like NTLM it authenticates a kept-alive connection: the token goes on the request the proxy
// refused, on the same socket, and a final token in the proxy's answer completes mutual
// authentication (squid sends none; a proxy that sends one is checked).
import type { Socket } from 'node:net';
import { loadNative, type GssContext, type Native } from '../native/index.ts';
import type { AuthChallenge } from './challenge.ts';
import { parseChallenges } from './challenge.ts';
import { NegotiateError } from './errors.ts';
import { exchange, headerValues, type Answer, type Exchange } from './wire.ts';

/** What the Negotiate handshake needs of the proxy's account state (agent/net/auth.ts's ProxyAuth). */
interface ProxyAuth {
  readonly proxy: string;
  readonly host: string;
  offered: string[];
  ticket?: Ticket;
  readonly tickets: () => Ticket;
  readonly mutual: { verified: number; missing: number };
  learn(challenges: AuthChallenge[], sent: 'negotiate'): void;
}

/** The user's Kerberos ticket as GSSAPI sees it now, or why there is none to use. */
export type Ticket =
  | { ok: true; principal: string; lifetime: number }
  | {
      ok: false;
      kind: 'no-library' | 'no-ticket' | 'expired' | 'token' | 'failed';
      why: string;
      cache?: string;
      principal?: string;
    };

/** GSSAPI routine errors (RFC 2744 3.9.1): the 8 bits above the supplementary bits. */
const BAD_SIG = 6;
const NO_CRED = 7;
const DEFECTIVE_TOKEN = 9;
const CREDENTIALS_EXPIRED = 11;
const KINDS: Record<number, 'no-ticket' | 'expired' | 'token'> = {
  [NO_CRED]: 'no-ticket',
  [CREDENTIALS_EXPIRED]: 'expired',
  [DEFECTIVE_TOKEN]: 'token',
  [BAD_SIG]: 'token',
};
const routine = (err: unknown) => (((err as { major?: number }).major ?? 0) >>> 16) & 0xff;

function gss(): Native | (Ticket & { ok: false }) {
  const l = loadNative();
  return l.ok ? l.native : { ok: false, kind: 'no-library', why: l.why };
}

/** What is wrong, with the ticket cache's name and principal when the library can tell them. */
function problem(native: Native, err: unknown): Ticket & { ok: false } {
  const e = err as Error & { code?: string; detail?: string };
  if (e.code === 'ENOGSSAPI') return { ok: false, kind: 'no-library', why: e.message };
  // The mechanism's words say more ("No Kerberos credentials available (default cache: …)"), unless they
  // are "Success" or "Unknown error" (measured: an expired ticket, a SPNEGO token that is not one).
  const why = e.detail && !/^(Success|Unknown error)$/.test(e.detail) ? e.detail : e.message;
  const kind = KINDS[routine(err)] ?? 'failed';
  try {
    const c = native.gssCache();
    return { ok: false, kind, why, cache: c.cache || undefined, principal: c.principal ?? undefined };
  } catch {
    return { ok: false, kind, why }; // the cache cannot be named: the message says what GSSAPI said
  }
}

/** Asked each time a proxy offers Negotiate (cheap: the cache is read, no KDC is asked): a kinit mid-run counts. */
export function ticket(): Ticket {
  const native = gss();
  if (!('gssCredential' in native)) return native;
  try {
    return { ok: true, ...native.gssCredential() };
  } catch (err) {
    return problem(native, err);
  }
}

/** The Kerberos name of the proxy's service, as GSSAPI asks for it (HTTP@host → HTTP/host@REALM). */
export const servicePrincipal = (host: string) => `HTTP/${host}`;

/** The token of a `Negotiate <token>` challenge or answer header (Proxy-Authenticate, Proxy-Authentication-Info). */
export function negotiateToken(a: Answer): Buffer | undefined {
  const values = [...headerValues(a.head, 'proxy-authenticate'), ...headerValues(a.head, 'proxy-authentication-info')];
  const t = parseChallenges(values).find((c) => c.scheme === 'negotiate')?.token;
  return t ? Buffer.from(t, 'base64') : undefined;
}

/** One security context towards one proxy, for one connection's handshake. */
class Session {
  private readonly native: Native;
  private readonly ctx: GssContext;

  constructor(private readonly auth: ProxyAuth) {
    const native = gss();
    if (!('gssContext' in native)) throw new NegotiateError(auth.proxy, auth.host, auth.offered, native);
    // Asked again for each connection: a ticket that expired since the proxy was first met says so
    // (SPNEGO's own words would only be "cannot find mechanisms to negotiate").
    const t = (auth.ticket = auth.tickets());
    if (!t.ok) throw new NegotiateError(auth.proxy, auth.host, auth.offered, t);
    this.native = native;
    try {
      this.ctx = native.gssContext(`HTTP@${auth.host}`);
    } catch (err) {
      throw new NegotiateError(auth.proxy, auth.host, auth.offered, problem(native, err));
    }
  }

  /** gss_init_sec_context with the proxy's token (none at first): the next token, and whether it is done. */
  async step(token: Buffer | null, final = false): Promise<{ token: Buffer | null; complete: boolean }> {
    try {
      return await this.native.gssStep(this.ctx, token);
    } catch (err) {
      const p = problem(this.native, err);
      const t = this.auth.ticket;
      const kind = final ? 'mutual' : p.kind;
      throw new NegotiateError(this.auth.proxy, this.auth.host, this.auth.offered, { ...p, kind }, t);
    }
  }
}

/**
 * Negotiate on `socket`: the request with the first token; while the proxy answers 407 with a
 * token of its own, the next one (SPNEGO may take more than one leg); a 407 without one is a
 * refusal (auth.learn throws). The answer that lets the request through may carry the proxy's
 * final token: then mutual authentication must complete, or nothing more goes on this socket.
 */
export async function negotiate(auth: ProxyAuth, socket: Socket, x: Exchange): Promise<Answer> {
  const session = new Session(auth);
  let out = await session.step(null);
  if (!out.token) throw new Error('GSSAPI gave no Negotiate token to send');
  for (let leg = 0; leg < 4; leg++) {
    const answer = await exchange(
      socket,
      x.request(`Negotiate ${out.token!.toString('base64')}`),
      x.method,
      x.timeoutMs,
    );
    const back = negotiateToken(answer);
    if (answer.head.status !== 407) {
      if (back && !out.complete) out = await session.step(back, true);
      auth.mutual[out.complete ? 'verified' : 'missing']++;
      return answer;
    }
    if (!back) auth.learn(parseChallenges(headerValues(answer.head, 'proxy-authenticate')), 'negotiate');
    if (!answer.reusable)
      throw new Error(`the proxy ${auth.proxy} closed the connection in the middle of the Negotiate handshake`);
    out = await session.step(back!);
    if (!out.token) break;
  }
  throw new Error(`the proxy ${auth.proxy} kept asking for more Negotiate tokens`);
}
