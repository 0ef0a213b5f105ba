import { chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProxyAuth } from '../../agent/net/auth.ts';
import { parseChallenges } from '../../agent/net/challenge.ts';
import { readAuthFile } from '../../agent/net/credentials.ts';
import { explainNetError, ProxyAuthError } from '../../agent/net/errors.ts';
import type { Ticket } from '../../agent/net/negotiate.ts';

function authFile(text: string, mode: number): string {
  const f = join(tmpdir(), `ferry-proxy-auth-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

describe('--proxy-auth-file', () => {
  it('DOMAIN\\user:password, the password everything after the first colon', () => {
    const warned: string[] = [];
    const c = readAuthFile(authFile('# proxy account\nCORP\\cfd:pa ss:word\n', 0o600), (m) => warned.push(m));
    expect(c).toEqual({ account: 'CORP\\cfd', domain: 'CORP', user: 'cfd', password: 'pa ss:word' });
    expect(warned).toEqual([]);
  });
  it('user:password without a domain', () => {
    expect(readAuthFile(authFile('cfd:pw\r\n', 0o600), () => undefined)).toMatchObject({ domain: '', user: 'cfd' });
  });
  it('warns when the file is readable by others, without showing the password', () => {
    const warned: string[] = [];
    const f = authFile('cfd:secret-pw\n', 0o644);
    readAuthFile(f, (m) => warned.push(m));
    expect(warned).toEqual([
      `--proxy-auth-file ${f} is readable by others (mode 644): it holds a password; run chmod 600 ${f}`,
    ]);
  });
  it('a file without a user:password line is a usage error (64)', () => {
    expect(() => readAuthFile(authFile('just-a-password\n', 0o600), () => undefined)).toThrow(
      expect.objectContaining({ exitCode: 64 }),
    );
  });
});

function thrown(fn: () => void): ProxyAuthError {
  try {
    fn();
  } catch (err) {
    return err as ProxyAuthError;
  }
  throw new Error('it did not throw');
}

describe('what a 407 teaches (ProxyAuth.learn)', () => {
  const creds = { account: 'CORP\\cfd', domain: 'CORP', user: 'cfd', password: 'pw' };
  const digest = (extra = '') =>
    parseChallenges([`Digest realm="r", nonce="n1", qop="auth"${extra}`, 'Basic realm="r"']);
  it('first challenge: the strongest scheme, then its header', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(digest(), undefined);
    expect(a.scheme).toBe('digest');
    expect(a.sending('GET', 'http://h/').authorization).toMatch(
      /^Digest username="CORP\\\\cfd", realm="r", nonce="n1"/,
    );
  });
  it('stale=true after our Digest: a new nonce, the same password, no refusal', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(digest(), undefined);
    const first = a.sending('GET', 'http://h/');
    a.answered(first, 407);
    a.learn(parseChallenges(['Digest realm="r", nonce="n2", qop="auth", stale=true']), 'digest', first.nonce);
    expect(a.sending('GET', 'http://h/').authorization).toContain('nonce="n2"');
  });
  it('a 407 (not stale) to a nonce the proxy took before: a new nonce, no refusal; then a refusal', () => {
    // Concurrent requests reach squid out of their nonce-count order: it answers one as a replay.
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(digest(), undefined);
    const first = a.sending('GET', 'http://h/');
    expect(first.nonce).toBe('n1');
    a.answered(first, 200); // a request with n1 was answered
    const second = a.sending('GET', 'http://h/');
    a.answered(second, 407);
    a.learn(parseChallenges(['Digest realm="r", nonce="n2", qop="auth"']), 'digest', 'n1');
    expect(a.sending('GET', 'http://h/').authorization).toContain('nonce="n2"');
    // n2 never taken: a burst sharing it may be answered as replays, but only 16 in a row; then refused
    for (let i = 0; i < 16; i++)
      a.learn(parseChallenges([`Digest realm="r", nonce="m${i}", qop="auth"`]), 'digest', 'n2');
    expect(() => a.learn(parseChallenges(['Digest realm="r", nonce="n3", qop="auth"']), 'digest', 'n2')).toThrow(
      /refused the DIGEST credentials/,
    );
  });
  it('a 407 (not stale) before the proxy ever took our Digest: refused at once (a wrong password)', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(digest(), undefined);
    expect(() => a.learn(parseChallenges(['Digest realm="r", nonce="n2", qop="auth"']), 'digest', 'n1')).toThrow(
      /refused the DIGEST credentials/,
    );
  });
  it('a 407 after our credentials (not stale): refused, naming proxy, scheme and user', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(digest(), undefined);
    const e = (() => {
      try {
        a.learn(digest(), 'digest');
      } catch (err) {
        return err as ProxyAuthError;
      }
    })();
    expect(e?.message).toBe("the proxy http://p:3128 refused the DIGEST credentials of user 'CORP\\cfd' (HTTP 407)");
    expect(e?.message).not.toContain('pw');
  });
  it('a scheme ferry does not speak: names what was offered and what ferry speaks', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    const e = thrown(() => a.learn(parseChallenges(['Bearer realm="x"']), undefined));
    expect(e.message).toBe('the proxy http://p:3128 offers only Bearer, which ferry does not speak');
    expect(e.hint).toContain('ferry speaks NEGOTIATE, NTLM, DIGEST, BASIC');
    expect(e.hint).toContain('cntlm');
  });
  it('no account given: says so', () => {
    expect(() => new ProxyAuth('http://p:3128', 'p', undefined).learn(digest(), undefined)).toThrow(
      'asks for credentials (Digest, Basic) and none were given',
    );
  });
});

describe('a Digest nonce serves one request at a time (ProxyAuth.sending, answered)', () => {
  const creds = { account: 'cfd', domain: '', user: 'cfd', password: 'pw' };
  const challenge = (nonce: string, extra = '') =>
    parseChallenges([`Digest realm="r", nonce="${nonce}", qop="auth"${extra}`]);
  const ncOf = (s: { authorization?: string }) => /nc=([0-9a-f]{8})/.exec(s.authorization ?? '')?.[1];

  it('while one request holds the nonce, the next goes without credentials; its 407 brings a nonce of its own', () => {
    // squid refuses a nonce whose counts arrive out of order (a replay): two requests in flight never share one.
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(challenge('n1'), undefined);
    const first = a.sending('PUT', 'http://h/a');
    expect(first.nonce).toBe('n1');
    const second = a.sending('PUT', 'http://h/b');
    expect(second).toEqual({});
    a.learn(challenge('n2'), second.sent, second.nonce); // the bare request's 407: never a refusal
    expect(a.sending('PUT', 'http://h/b').nonce).toBe('n2');
  });
  it('a nonce the proxy took serves the next request, its count one up; a second answer returns it no more', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(challenge('n1'), undefined);
    const first = a.sending('PUT', 'http://h/a');
    a.answered(first, 200);
    a.answered(first, 200);
    const next = a.sending('PUT', 'http://h/b');
    expect([next.nonce, ncOf(first), ncOf(next)]).toEqual(['n1', '00000001', '00000002']);
    expect(a.sending('PUT', 'http://h/c')).toEqual({});
  });
  it('a nonce refused (407) or whose request ended unanswered is not used again', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(challenge('n1'), undefined);
    a.answered(a.sending('PUT', 'http://h/a'), 407);
    expect(a.sending('PUT', 'http://h/b')).toEqual({});
    a.learn(challenge('n2'), undefined);
    a.answered(a.sending('PUT', 'http://h/c'), undefined);
    expect(a.sending('PUT', 'http://h/d')).toEqual({});
  });
  it('Basic: every request carries the account, however many at once', () => {
    const a = new ProxyAuth('http://p:3128', 'p', creds);
    a.learn(parseChallenges(['Basic realm="r"']), undefined);
    const token = `Basic ${Buffer.from('cfd:pw').toString('base64')}`;
    expect([a.sending('GET', 'http://h/').authorization, a.sending('GET', 'http://h/').authorization]).toEqual([
      token,
      token,
    ]);
  });
});

// The user's ticket is GSSAPI's (agent/net/negotiate.ts); here each case brings its own.
describe('Negotiate beside the account schemes (ProxyAuth.learn)', () => {
  const creds = { account: 'cfd', domain: '', user: 'cfd', password: 'pw' };
  const ok: Ticket = { ok: true, principal: 'alice@CORP.EXAMPLE', lifetime: 3600 };
  const none: Ticket = {
    ok: false,
    kind: 'no-ticket',
    why: 'No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_0)',
    cache: 'FILE:/tmp/krb5cc_0',
  };
  const expired: Ticket = { ok: false, kind: 'expired', why: 'x', cache: 'KCM:1000', principal: 'alice@CORP.EXAMPLE' };
  const noLib: Ticket = {
    ok: false,
    kind: 'no-library',
    why: 'libgssapi_krb5.so.2: cannot open shared object file: No such file or directory',
  };
  const offer = (...c: string[]) => parseChallenges(c);
  const auth = (t: Ticket, account: typeof creds | null = creds) =>
    new ProxyAuth('http://proxy.corp:8080', 'proxy.corp', account ?? undefined, () => t);

  it('a ticket: Negotiate, even when an account is given and NTLM is offered too', () => {
    const a = auth(ok);
    a.learn(offer('Negotiate', 'NTLM', 'Basic realm="r"'), undefined);
    expect(a.scheme).toBe('negotiate');
    expect(a.who()).toBe('alice@CORP.EXAMPLE');
    expect(a.sending('GET', 'http://h/')).toEqual({}); // a connection scheme: no per-request header
  });
  it('no ticket: the scheme of the account, and why Negotiate was passed over', () => {
    const a = auth(none);
    a.learn(offer('Negotiate', 'Basic realm="r"'), undefined);
    expect(a.scheme).toBe('basic');
    expect(a.who()).toBe('cfd');
    expect(a.ticket).toEqual(none);
  });
  it('no ticket and no account: one error naming both ways out', () => {
    const e = thrown(() => auth(none, null).learn(offer('Negotiate', 'Basic realm="r"'), undefined));
    expect(e.message).toBe(
      'the proxy http://proxy.corp:8080 asks for Negotiate (Kerberos), and there is no Kerberos ticket in ' +
        'FILE:/tmp/krb5cc_0 to get one for HTTP/proxy.corp with: No Kerberos credentials available ' +
        '(default cache: FILE:/tmp/krb5cc_0); and no account was given for Basic',
    );
    expect(e.hint).toMatch(/^run kinit .*; or give the account for Basic in --proxy-auth-file$/);
    expect(explainNetError(e)?.exitCode).toBe(77);
  });
  it('only Negotiate and an expired ticket: names the principal and kinit, an account does not help', () => {
    const e = thrown(() => auth(expired).learn(offer('Negotiate'), undefined));
    expect(e.message).toBe(
      'the proxy http://proxy.corp:8080 asks for Negotiate (Kerberos), and the Kerberos ticket of ' +
        'alice@CORP.EXAMPLE in KCM:1000 has expired (needed for HTTP/proxy.corp)',
    );
    expect(e.hint).toContain('kinit alice@CORP.EXAMPLE');
  });
  it('only Negotiate on a node without GSSAPI: names the library', () => {
    const e = thrown(() => auth(noLib).learn(offer('Negotiate'), undefined));
    expect(e.message).toContain('this node has no GSSAPI library: libgssapi_krb5.so.2: cannot open shared object');
    expect(e.hint).toContain('libgssapi-krb5-2');
  });
  it('a 407 again after our Negotiate token: refused, naming the principal and the service', () => {
    const a = auth(ok);
    a.learn(offer('Negotiate'), undefined);
    const e = thrown(() => a.learn(offer('Negotiate'), 'negotiate'));
    expect(e.message).toBe(
      'the proxy http://proxy.corp:8080 refused the Negotiate (Kerberos) ticket of alice@CORP.EXAMPLE for ' +
        'HTTP/proxy.corp (HTTP 407)',
    );
  });
  it('may answer a 407 with a ticket alone, or an account alone; not with neither', () => {
    expect(auth(ok, null).mayAnswer()).toBe(true);
    expect(auth(none).mayAnswer()).toBe(true);
    expect(auth(none, null).mayAnswer()).toBe(false);
  });
});
