import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Squid {
  port: number;
  /** http://USER:PASSWORD@127.0.0.1:PORT with the password percent-encoded. */
  url(user: string, password: string): string;
  accessLog(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A real squid on 127.0.0.1 that requires Basic auth (user/password), logging every request. */
export async function startSquid(user: string, password: string): Promise<Squid> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-squid-'));
  const port = await freePort();
  const hash = execFileSync('openssl', ['passwd', '-apr1', password], { encoding: 'utf8' }).trim();
  writeFileSync(join(dir, 'passwd'), `${user}:${hash}\n`);
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      `pid_filename ${dir}/squid.pid`,
      `access_log stdio:${dir}/access.log`,
      `cache_log ${dir}/cache.log`,
      'cache deny all',
      'pinger_enable off',
      'shutdown_lifetime 1 seconds',
      `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd`,
      'auth_param basic realm ferry-test',
      'acl authed proxy_auth REQUIRED',
      'http_access allow authed',
      'http_access deny all',
      '',
    ].join('\n'),
  );
  for (const f of ['', 'passwd']) chownSync(join(dir, f), proxyUid(), proxyGid());
  const child: ChildProcess = spawn('squid', ['-N', '-f', conf], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await listening(port)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await listening(port))) throw new Error(`squid did not start; see ${dir}/cache.log`);
  return {
    port,
    url: (u, p) => `http://${encodeURIComponent(u)}:${encodeURIComponent(p)}@127.0.0.1:${port}`,
    accessLog: () => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : ''),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

function proxyUid(): number {
  return Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
}
function proxyGid(): number {
  return Number(execFileSync('id', ['-g', 'proxy'], { encoding: 'utf8' }).trim());
}
