// What goes wrong between ferry and a proxy, said once for every store: each store's error
// classification asks explainNetError() first.
import { EXIT, errnoCode } from '../errors.ts';
import { SPOKEN } from './challenge.ts';

export const CNTLM_HINT = 'see the README\'s "Corporate networks" section: the cntlm route';

/** A proxy that wants what ferry cannot give: refused credentials, none given, or a scheme ferry does not speak. */
export class ProxyAuthError extends Error {
  constructor(
    readonly kind: 'refused' | 'no-credentials' | 'unsupported',
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
      return `ferry speaks ${spoken}; for Negotiate (Kerberos), run cntlm and point --proxy at it (${CNTLM_HINT})`;
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
