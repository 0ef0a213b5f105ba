import { chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProxyAuth } from '../../agent/net/auth.ts';
import { parseChallenges } from '../../agent/net/challenge.ts';
import { readAuthFile } from '../../agent/net/credentials.ts';
import { ProxyAuthError } from '../../agent/net/errors.ts';

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

describe('what a 407 teaches (ProxyAuth.learn)', () => {
  const creds = { account: 'CORP\\cfd', domain: 'CORP', user: 'cfd', password: 'pw' };
  const digest = (extra = '') =>
    parseChallenges([`Digest realm="r", nonce="n1", qop="auth"${extra}`, 'Basic realm="r"']);
  it('first challenge: the strongest scheme, then its header', () => {
    const a = new ProxyAuth('http://p:3128', creds);
    a.learn(digest(), undefined);
    expect(a.scheme).toBe('digest');
    expect(a.perRequest('GET', 'http://h/')).toMatch(/^Digest username="CORP\\\\cfd", realm="r", nonce="n1"/);
  });
  it('stale=true after our Digest: a new nonce, the same password, no refusal', () => {
    const a = new ProxyAuth('http://p:3128', creds);
    a.learn(digest(), undefined);
    a.learn(parseChallenges(['Digest realm="r", nonce="n2", qop="auth", stale=true']), 'digest');
    expect(a.perRequest('GET', 'http://h/')).toContain('nonce="n2"');
  });
  it('a 407 after our credentials (not stale): refused, naming proxy, scheme and user', () => {
    const a = new ProxyAuth('http://p:3128', creds);
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
  it('only Negotiate: names what was offered and what ferry speaks', () => {
    const a = new ProxyAuth('http://p:3128', creds);
    expect(() => a.learn(parseChallenges(['Negotiate']), undefined)).toThrow(
      'the proxy http://p:3128 offers only Negotiate, which ferry does not speak',
    );
    try {
      a.learn(parseChallenges(['Negotiate']), undefined);
    } catch (err) {
      expect((err as ProxyAuthError).hint).toContain('ferry speaks NTLM, DIGEST, BASIC');
      expect((err as ProxyAuthError).hint).toContain('cntlm');
    }
  });
  it('no account given: says so', () => {
    expect(() => new ProxyAuth('http://p:3128', undefined).learn(digest(), undefined)).toThrow(
      'asks for credentials (Digest, Basic) and none were given',
    );
  });
});
