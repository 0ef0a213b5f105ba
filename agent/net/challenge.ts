// Proxy-Authenticate challenges (RFC 9110 11.6.1): a 407 may carry several headers, and one
// header may hold several challenges separated by commas. Each challenge is a scheme followed by
// either a token68 (NTLM's base64 message) or comma-separated name=value parameters.

export interface AuthChallenge {
  /** Lower-case scheme: basic, digest, ntlm, negotiate, … */
  scheme: string;
  /** The scheme as the proxy wrote it, for messages. */
  name: string;
  params: Record<string, string>;
  token?: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** Every challenge in the given Proxy-Authenticate header values, in order. */
export function parseChallenges(values: string[]): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  for (const value of values) parseOne(value, out);
  return out;
}

function parseOne(value: string, out: AuthChallenge[]): void {
  let s = value.trim();
  let current: AuthChallenge | undefined;
  while (s.length) {
    s = s.replace(/^[\s,]+/, '');
    const tok = TOKEN.exec(s)?.[0];
    if (!tok) break;
    const after = s.slice(tok.length);
    const param = /^\s*=\s*/.exec(after);
    if (param && current && !/^\s*=\s*(=|,|$)/.test(after)) {
      // name=value (quoted or token)
      s = after.slice(param[0].length);
      const [val, rest] = readValue(s);
      current.params[tok.toLowerCase()] = val;
      s = rest;
      continue;
    }
    // A new challenge: scheme, then maybe a token68.
    current = { scheme: tok.toLowerCase(), name: tok, params: {} };
    out.push(current);
    s = after;
    const t68 = /^ +([A-Za-z0-9\-._~+/]+=*)\s*(,|$)/.exec(s);
    if (t68 && !/^ +[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=[^=]/.test(s)) {
      current.token = t68[1];
      s = s.slice(t68[0].length);
    }
  }
}

function readValue(s: string): [string, string] {
  if (s.startsWith('"')) {
    let val = '';
    let i = 1;
    for (; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      val += s[i];
    }
    return [val, s.slice(i + 1)];
  }
  const m = /^[^,\s]*/.exec(s)![0];
  return [m, s.slice(m.length)];
}

/** The schemes ferry answers, strongest first (as curl's --proxy-anyauth orders them). */
export const SPOKEN = ['negotiate', 'ntlm', 'digest', 'basic'] as const;
export type Spoken = (typeof SPOKEN)[number];

/**
 * The strongest challenge ferry can answer with an account: NTLM, then Digest (SHA-256 before
 * MD5), then Basic. (Negotiate needs no account: ProxyAuth.learn takes it first when there is a ticket.)
 */
export function strongest(challenges: AuthChallenge[]): AuthChallenge | undefined {
  const ntlm = challenges.find((c) => c.scheme === 'ntlm');
  if (ntlm) return ntlm;
  const digests = challenges.filter((c) => c.scheme === 'digest' && digestAlgorithm(c) !== undefined);
  const digest = digests.find((c) => digestAlgorithm(c)!.startsWith('SHA-256')) ?? digests[0];
  return digest ?? challenges.find((c) => c.scheme === 'basic');
}

/** The Digest algorithm of a challenge when ferry speaks it (MD5, SHA-256 and their -sess forms). */
export function digestAlgorithm(c: AuthChallenge): string | undefined {
  const a = (c.params.algorithm ?? 'MD5').toUpperCase();
  return ['MD5', 'MD5-SESS', 'SHA-256', 'SHA-256-SESS'].includes(a) ? a : undefined;
}
