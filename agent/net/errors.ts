// What goes wrong between ferry and a proxy, said once for every store: each store's error
// classification asks explainNetError() first.
import { EXIT, errnoCode } from '../errors.ts';
import { SPOKEN, type AuthChallenge } from './challenge.ts';

export const CNTLM_HINT = 'see the README\'s "Corporate networks" section: the cntlm route';

/** A proxy that wants what ferry cannot give: refused credentials, none given, or a scheme ferry does not speak. */
export class ProxyAuthError extends Error {
  constructor(
    readonly kind: 'refused' | 'no-credentials' | 'unsupported' | 'negotiate',
    readonly proxy: string,
    readonly offered: string[],
    readonly scheme?: string,
    readonly user?: string,
  ) {
    super(proxyAuthMessage(kind, proxy, offered, scheme, user));
    this.name = 'ProxyAuthError';
  }

  get hint(): string {
    if (this.kind === 'unsupported') {
      const spoken = SPOKEN.map((s) => s.toUpperCase()).join(', ');
      return `ferry speaks ${spoken}; for any other scheme, run cntlm and point --proxy at it (${CNTLM_HINT})`;
    }
    if (this.kind === 'no-credentials') {
      return 'pass --proxy-auth-file FILE with one line user:password or DOMAIN\\user:password';
    }
    return (
      'check the account and password in --proxy-auth-file (or the proxy URL); ' +
      'ferry does not try again, so the account is not locked out'
    );
  }
}

function proxyAuthMessage(kind: string, proxy: string, offered: string[], scheme?: string, user?: string): string {
  const list = offered.join(', ') || 'none';
  if (kind === 'refused') return `the proxy ${proxy} refused the ${scheme} credentials of user '${user}' (HTTP 407)`;
  if (kind === 'no-credentials') return `the proxy ${proxy} asks for credentials (${list}) and none were given`;
  return `the proxy ${proxy} offers only ${list}, which ferry does not speak`;
}

/** Why Negotiate could not answer: from agent/net/negotiate.ts's Ticket, or the handshake. */
export interface NegotiateProblem {
  kind: 'no-library' | 'no-ticket' | 'expired' | 'token' | 'failed' | 'refused' | 'mutual';
  /** GSSAPI's own words, or the loader's. */
  why?: string;
  /** The ticket cache (FILE:/tmp/krb5cc_1000, KCM:1000…) and its principal, when the library tells them. */
  cache?: string;
  principal?: string;
}

const KINIT = 'kinit (kinit you@YOUR.REALM; on a workstation joined to the domain, SSSD or winbind keeps one)';

/** A proxy asks for Negotiate (Kerberos) and ferry cannot answer it, or the proxy refused the ticket. */
export class NegotiateError extends ProxyAuthError {
  private readonly fix: string;
  constructor(
    proxy: string,
    host: string,
    offered: string[],
    p: NegotiateProblem,
    ticket?: { ok: boolean; principal?: string },
    /** The account scheme the proxy offered too, when no account was given for it. */
    other?: AuthChallenge,
  ) {
    super('negotiate', proxy, offered, 'NEGOTIATE', ticket?.principal ?? p.principal);
    const [says, fix] = negotiateWords(proxy, `HTTP/${host}`, p, ticket?.principal ?? p.principal);
    this.message = other ? `${says}; and no account was given for ${other.name}` : says;
    this.fix = other ? `${fix}; or give the account for ${other.name} in --proxy-auth-file` : fix;
  }

  get hint(): string {
    return this.fix;
  }
}

function negotiateWords(proxy: string, spn: string, p: NegotiateProblem, who?: string): [string, string] {
  const asks = `the proxy ${proxy} asks for Negotiate (Kerberos)`;
  const why = p.why ? `: ${p.why}` : '';
  const cache = p.cache ? ` in ${p.cache}` : '';
  switch (p.kind) {
    case 'no-library':
      return [
        `${asks}, and this node has no GSSAPI library${why}`,
        "install MIT Kerberos' GSSAPI library (Debian/Ubuntu libgssapi-krb5-2, RHEL krb5-libs), or give an account " +
          `the proxy also accepts (--proxy-auth-file), or use cntlm (${CNTLM_HINT})`,
      ];
    case 'no-ticket':
      return [
        `${asks}, and there is no Kerberos ticket${who ? ` of ${who}` : ''}${cache} to get one for ${spn} with${why}`,
        `run ${KINIT}, or point KRB5CCNAME at your ticket cache; klist shows what it holds`,
      ];
    case 'expired':
      return [
        `${asks}, and the Kerberos ticket${who ? ` of ${who}` : ''}${cache} has expired (needed for ${spn})`,
        `renew it: kinit${who ? ` ${who}` : ''} (or kinit -R while it is renewable), then run ferry again`,
      ];
    case 'refused':
      return [
        `the proxy ${proxy} refused the Negotiate (Kerberos) ticket${who ? ` of ${who}` : ''} for ${spn} (HTTP 407)`,
        `the proxy could not accept it (its keytab for ${spn}, or clocks more than 5 minutes apart): ` +
          "kinit again, or ask the proxy's administrators",
      ];
    case 'token':
      return [
        `the proxy ${proxy} answered with a Negotiate token that GSSAPI cannot accept${why}`,
        "the proxy's Negotiate is broken, or something between ferry and the proxy alters its answers: " +
          'ask its administrators, or give an account it also takes (--proxy-auth-file)',
      ];
    case 'mutual':
      return [
        `the proxy ${proxy}'s final Negotiate token does not prove it is ${spn} (mutual authentication failed)${why}`,
        'something between ferry and the proxy answers in its name; ferry sent nothing through it',
      ];
    default:
      return [
        `${asks}, and GSSAPI could not get a ticket for ${spn}${who ? ` as ${who}` : ''}${why}`,
        `the proxy's name must be the one its service principal ${spn} has in the realm ` +
          '(a name, not an IP address: --proxy http://proxy.corp.example:8080), and the KDC must answer',
      ];
  }
}

/** A PAC file that cannot be used: fetched (unreachable → 69) or evaluated (invalid → 64). */
export class PacError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'PacError';
  }
}

/** Every proxy the PAC (or the flags) named for a target refused the connection. */
export class ProxiesUnreachable extends Error {
  readonly code: string;
  constructor(
    readonly tried: string[],
    cause: unknown,
  ) {
    super(`no proxy answered (tried ${tried.join(', ')}): ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'ProxiesUnreachable';
    this.code = errnoCode(cause) ?? 'ECONNREFUSED';
  }
}

export interface NetSaid {
  says: string;
  exitCode: number;
  hint?: string;
}

/** What a store should say about a proxy failure found anywhere in `err`'s cause chain. */
export function explainNetError(err: unknown): NetSaid | undefined {
  for (let e = err, i = 0; e && i < 6; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof ProxyAuthError) return { says: e.message, exitCode: EXIT.noPerm, hint: e.hint };
    if (e instanceof PacError) return { says: e.message, exitCode: e.exitCode, hint: e.hint };
  }
  return undefined;
}
