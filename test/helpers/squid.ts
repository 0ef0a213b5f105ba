import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './env.ts';
import type { Kdc } from './kdc.ts';
import { serveOnFreePort, waitFor } from './net.ts';

export interface Squid {
  port: number;
  /** http://USER:PASSWORD@127.0.0.1:PORT with the password percent-encoded. */
  url(user: string, password: string): string;
  /** http://127.0.0.1:PORT (no credentials). */
  address: string;
  /** http://localhost:PORT: the name Negotiate asks a ticket for (HTTP/localhost). */
  named: string;
  /** The access log as it is now (squid writes a CONNECT's line only when its tunnel closes). */
  accessLog(): string;
  /**
   * The access-log lines after `before` (a length of accessLog() taken earlier), once squid has
   * logged what came before: it answers a request of our own first (a 407, left out of the lines),
   * so the tunnels of a client that exited are closed and logged. With `until`, it first waits for
   * a line that matches.
   */
  linesSince(before: number, o?: { until?: RegExp }): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * What the squid asks for:
 * - basic: basic_ncsa_auth over an htpasswd file;
 * - digest: digest_file_auth over user:realm:HA1 lines (a nonce is good for `nonceMaxCount` uses);
 * - ntlm: ntlm_fake_auth (checks the three-message handshake, accepts any password);
 * - ntlm-check: our helper that checks the NTLMv2 proof against `ntowfv2` (hex) for user/domain;
 * - kerberos: Negotiate with squid's negotiate_kerberos_auth over the KDC's keytab (any HTTP/<host> in
 *   it), and Basic beside it when `basic` is given (squid then offers both).
 */
export type SquidAuth =
  | { scheme: 'basic' | 'digest'; user: string; password: string; nonceMaxCount?: number }
  | { scheme: 'ntlm' }
  | { scheme: 'ntlm-check'; user: string; domain: string; ntowfv2: string }
  | { scheme: 'kerberos'; kdc: Kdc; basic?: { user: string; password: string } };

function authLines(auth: SquidAuth, dir: string): string[] {
  switch (auth.scheme) {
    case 'basic': {
      const hash = execFileSync('openssl', ['passwd', '-apr1', auth.password], { encoding: 'utf8' }).trim();
      writeFileSync(join(dir, 'passwd'), `${auth.user}:${hash}\n`);
      return [
        `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd`,
        'auth_param basic realm ferry-test',
      ];
    }
    case 'digest': {
      // user:realm:HA1 (-c): digest_file_auth's plain user:password lines cannot hold a space.
      const ha1 = createHash('md5').update(`${auth.user}:ferry-test:${auth.password}`).digest('hex');
      writeFileSync(join(dir, 'passwd'), `${auth.user}:ferry-test:${ha1}\n`);
      return [
        `auth_param digest program /usr/lib/squid/digest_file_auth -c ${dir}/passwd`,
        'auth_param digest realm ferry-test',
        'auth_param digest children 2',
        ...(auth.nonceMaxCount ? [`auth_param digest nonce_max_count ${auth.nonceMaxCount}`] : []),
      ];
    }
    case 'ntlm':
      return ['auth_param ntlm program /usr/lib/squid/ntlm_fake_auth', 'auth_param ntlm children 2'];
    case 'ntlm-check':
      // A copy in squid's own folder: the user squid runs helpers as may not reach the checkout.
      copyFileSync(join(ROOT, 'test/helpers/ntlm-check-helper.py'), join(dir, 'ntlm-check-helper.py'));
      return [
        'auth_param ntlm program /usr/bin/python3 ' +
          `${dir}/ntlm-check-helper.py ${auth.domain} ${auth.user} ${auth.ntowfv2}`,
        'auth_param ntlm children 2',
      ];
    case 'kerberos': {
      // Copies in squid's own folder: the user squid runs helpers as cannot read the KDC's.
      copyFileSync(auth.kdc.keytab, join(dir, 'http.keytab'));
      copyFileSync(auth.kdc.config, join(dir, 'krb5.conf'));
      const basic = auth.basic ? authLines({ scheme: 'basic', ...auth.basic }, dir) : [];
      return [
        `auth_param negotiate program /usr/bin/env KRB5_KTNAME=${dir}/http.keytab KRB5_CONFIG=${dir}/krb5.conf ` +
          '/usr/lib/squid/negotiate_kerberos_auth -s GSS_C_NO_NAME',
        'auth_param negotiate children 2',
        'auth_param negotiate keep_alive on',
        ...basic,
      ];
    }
  }
}

/** A real squid on 127.0.0.1 that requires Basic auth (user/password), logging every request. */
export function startSquid(user: string, password: string): Promise<Squid> {
  return startSquidWith({ scheme: 'basic', user, password });
}

/** A real squid on 127.0.0.1 asking for `auth`, logging every request. */
export async function startSquidWith(auth: SquidAuth): Promise<Squid> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-squid-'));
  const lines = authLines(auth, dir);
  const conf = join(dir, 'squid.conf');
  const own = ['passwd', 'ntlm-check-helper.py', 'http.keytab', 'krb5.conf'];
  for (const f of ['', ...own.filter((n) => existsSync(join(dir, n)))]) {
    chownSync(join(dir, f), proxyUid(), proxyGid());
  }
  const { port, child } = await serveOnFreePort('squid', (p) => {
    writeFileSync(conf, squidConf(p, dir, lines));
    return spawn('squid', ['-N', '-f', conf], { stdio: 'ignore' });
  }).catch((err: Error) => {
    throw new Error(`squid did not start (${err.message}); see ${dir}/cache.log`);
  });
  const accessLog = () => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : '');
  return {
    port,
    address: `http://127.0.0.1:${port}`,
    named: `http://localhost:${port}`,
    url: (u, p) => `http://${encodeURIComponent(u)}:${encodeURIComponent(p)}@127.0.0.1:${port}`,
    accessLog,
    async linesSince(before, o = {}) {
      if (o.until) {
        const re = o.until;
        await waitFor(`a squid log line matching ${re}`, () => re.test(accessLog().slice(before)), {
          timeoutMs: 20_000,
        });
      }
      const marker = `ferry-log-barrier-${randomUUID()}`;
      await new Promise<void>((resolve) => {
        const q = request({ host: '127.0.0.1', port, path: `http://${marker}.invalid/`, method: 'GET' }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        q.on('error', () => resolve());
        q.end();
      });
      await waitFor('squid to log our own request', () => accessLog().includes(marker), { timeoutMs: 20_000 });
      return accessLog()
        .slice(before)
        .split('\n')
        .filter((l) => l && !l.includes(marker));
    },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    },
  };
}

/** shutdown_lifetime 0: squid stops at once (active connections are cut, which is what a test's stop means). */
function squidConf(port: number, dir: string, auth: string[]): string {
  return [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${dir}/squid.pid`,
    `access_log stdio:${dir}/access.log`,
    `cache_log ${dir}/cache.log`,
    'cache deny all',
    'pinger_enable off',
    'shutdown_lifetime 0 seconds',
    ...auth,
    'acl authed proxy_auth REQUIRED',
    'http_access allow authed',
    'http_access deny all',
    '',
  ].join('\n');
}

function proxyUid(): number {
  return Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
}
function proxyGid(): number {
  return Number(execFileSync('id', ['-g', 'proxy'], { encoding: 'utf8' }).trim());
}
