import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { startKdc, ticketValid, type Kdc } from '../helpers/kdc.ts';
import { canUseNamespaces, withoutGssapi } from '../helpers/namespaces.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, putBytes } from '../helpers/s3.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';
import { startTlsFront, type TlsFront } from '../helpers/tls-front.ts';

// Negotiate (SPNEGO/Kerberos) with the user's ticket, against real parts: an MIT KDC of a realm of
// its own on loopback, squid asking only for Negotiate (negotiate_kerberos_auth over the keytab of
// HTTP/localhost), a squid offering Negotiate and Basic, a proxy that sends its final token (mutual
// authentication), kinit into ticket caches of the test's own, curl --proxy-negotiate as the
// reference client. The proxy is named `localhost`: the service principal is HTTP/<the name used>.
const BUCKET = 'ferry-negotiate';
const USER = 'cfd-user';
const PASSWORD = 'basic pw: s3cret';
const s3 = inject('s3');
const admin = adminClient(s3);
let kdc: Kdc;
let cache: string;
let only: Squid;
let both: Squid;
let front: TlsFront;

beforeAll(async () => {
  kdc = await startKdc();
  cache = kdc.kinit();
  only = await startSquidWith({ scheme: 'kerberos', kdc });
  both = await startSquidWith({ scheme: 'kerberos', kdc, basic: { user: USER, password: PASSWORD } });
  front = await startTlsFront(s3.endpoint);
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(async () => {
  await only?.stop();
  await both?.stop();
  await front?.close();
  await kdc?.stop();
  admin.destroy();
});

type Transport = 'http' | 'https';
interface RunOptions {
  transport: Transport;
  proxy: string;
  /** The ticket cache (KRB5CCNAME); none: a cache that holds nothing. */
  cache?: string;
  account?: string;
  bin?: string;
  /** The proxy for https endpoints only (HTTPS_PROXY), when it speaks CONNECT only. */
  httpsOnly?: boolean;
}

/** A whole `ferry run` row through `proxy` (HTTP_PROXY/HTTPS_PROXY), plain http or CONNECT to the HTTPS front. */
async function run(out: string, o: RunOptions, command = 'run') {
  const dir = tempDir('negotiate');
  writeAwsConfig(dir, s3);
  const extra: string[] = [];
  if (o.account) {
    writeFileSync(join(dir, 'proxy-auth'), `${o.account}\n`, { mode: 0o600 });
    extra.push('--proxy-auth-file', 'proxy-auth');
  }
  if (o.transport === 'https') extra.push('--endpoint', front.url);
  const env = cleanEnv({
    ...kdc.env(o.cache),
    ...(o.httpsOnly ? {} : { HTTP_PROXY: o.proxy }),
    HTTPS_PROXY: o.proxy,
    ...(o.transport === 'https' ? { AWS_CA_BUNDLE: front.caFile } : {}),
  });
  const args =
    command === 'check'
      ? ['check', '--aws-config', 'config', ...extra, '--output', `s3://${BUCKET}/${out}/`]
      : ['run', '--aws-config', 'config', ...extra, '--input', `s3://${BUCKET}/in/pintle.zip`]
          .concat(['--output', `s3://${BUCKET}/${out}/`, '--retries', '2', '--no-mpi', '--'])
          .concat(['sh', '-c', 'cat inputs.in > result.txt']);
  const r = await ferry(o.bin ? [FERRY, ...args] : args, { cwd: dir, env, bin: o.bin });
  return { ...r, dir };
}

/** squid's lines of requests since `before` (not the 407s it answered first). */
function served(squid: Squid, before: number): string[] {
  const lines = squid.accessLog().slice(before).split('\n');
  return lines.filter((l) => l && !l.includes('TCP_DENIED/407') && !l.includes('error:transaction-end-before-headers'));
}

/** Every request went through, as `user` (squid's 8th field), by plain http or CONNECT. */
function expectThrough(lines: string[], transport: Transport, out: string, user: string): void {
  expect(lines.length).toBeGreaterThan(0);
  if (transport === 'http') {
    expect(lines.some((l) => l.includes(`GET http://127.0.0.1:`) && l.includes(`/${BUCKET}/in/pintle.zip`))).toBe(true);
    expect(lines.some((l) => l.includes(`PUT http://127.0.0.1:`) && l.includes(`/${BUCKET}/${out}/result.txt`))).toBe(
      true,
    );
  } else {
    expect(
      lines.every((l) => l.includes(`CONNECT 127.0.0.1:${new URL(front.url).port}`)),
      lines.join('\n'),
    ).toBe(true);
  }
  expect(
    lines.every((l) => l.split(/\s+/)[7] === user),
    lines.join('\n'),
  ).toBe(true);
}

describe('the reference client', () => {
  it('curl --proxy-negotiate gets through squid with the ticket, and squid names the principal', async () => {
    const before = only.accessLog().length;
    const code = (c: string) =>
      execFileSync(
        'curl',
        ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--proxy', only.named, '--proxy-negotiate'].concat([
          '-U',
          ':',
          `${s3.endpoint}/`,
        ]),
        {
          env: { ...process.env, ...kdc.env(c) },
          encoding: 'utf8',
        },
      );
    expect(code(cache)).toBe('200');
    // squid writes its access log in a buffer it flushes on its own time: wait for the line
    for (let i = 0; i < 50 && !only.accessLog().slice(before).includes(kdc.user); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(served(only, before).join('\n')).toContain(kdc.user);
    expect(code(kdc.env().KRB5CCNAME)).toBe('407');
  });
});

describe.each(['http', 'https'] as const)('a squid asking only for Negotiate, %s', (transport) => {
  it('a whole run with the ticket: every request carries the principal, no password anywhere', async () => {
    const out = `only-${transport}`;
    const before = only.accessLog().length;
    const r = await run(out, { transport, proxy: only.named, cache });
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, `${out}/result.txt`)).toString()).toContain('case_name pintle');
    expectThrough(served(only, before), transport, out, kdc.user);
  });

  it('no ticket: 77 naming Negotiate, the principal it looked for, and kinit', async () => {
    const r = await run(`none-${transport}`, { transport, proxy: only.named });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain(
      `the proxy ${only.named} asks for Negotiate (Kerberos), and there is no Kerberos ticket`,
    );
    expect(r.stderr).toContain('to get one for HTTP/localhost');
    expect(r.stderr).toContain('No Kerberos credentials available');
    expect(r.stderr).toMatch(/hint: run kinit/);
  });

  it('an expired ticket: 77 naming the principal whose ticket expired, and kinit', async () => {
    const short = kdc.kinit({ lifetime: '1s' });
    for (let i = 0; i < 100 && ticketValid(kdc, short); i++) await new Promise((r) => setTimeout(r, 100));
    expect(ticketValid(kdc, short)).toBe(false);
    const r = await run(`expired-${transport}`, { transport, proxy: only.named, cache: short });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain(
      `the Kerberos ticket of ${kdc.user} in ${short} has expired (needed for HTTP/localhost)`,
    );
    expect(r.stderr).toContain(`hint: renew it: kinit ${kdc.user}`);
  });
});

describe('ferry check', () => {
  it.each(['http', 'https'] as const)(
    'names the route, the scheme offered and used, and the principal (%s)',
    async (t) => {
      const r = await run(`check-${t}`, { transport: t, proxy: only.named, cache }, 'check');
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^ {2}route +through proxy ${only.named} \\((HTTPS?_PROXY)\\)$`, 'm'));
      expect(r.stdout).toMatch(
        new RegExp(
          `^ {2}proxy auth offered Negotiate; answered with Negotiate as ${kdc.user} \\(ticket valid .*\\)$`,
          'm',
        ),
      );
    },
  );
});

describe('a proxy offering Negotiate and Basic', () => {
  it('with a ticket: Negotiate, though an account is given too', async () => {
    const before = both.accessLog().length;
    const r = await run('both-ticket', { transport: 'http', proxy: both.named, cache, account: `${USER}:${PASSWORD}` });
    expect(r.exitCode, r.all).toBe(0);
    expectThrough(served(both, before), 'http', 'both-ticket', kdc.user);
  });

  it('without a ticket: the account, by Basic', async () => {
    const before = both.accessLog().length;
    const r = await run('both-account', { transport: 'https', proxy: both.named, account: `${USER}:${PASSWORD}` });
    expect(r.exitCode, r.all).toBe(0);
    expectThrough(served(both, before), 'https', 'both-account', USER);
  });

  it('neither: 77 naming both ways out', async () => {
    const r = await run('both-neither', { transport: 'http', proxy: both.named });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('there is no Kerberos ticket');
    expect(r.stderr).toContain('and no account was given for Basic');
    expect(r.stderr).toMatch(/hint: run kinit .*or give the account for Basic in --proxy-auth-file/);
  });
});

/** The proxy of test/helpers/negotiate-proxy.py (CONNECT only, final token sent), and its log. */
async function finalTokenProxy(mode: 'honest' | 'tamper' | 'garbage') {
  const dir = tempDir('negproxy');
  const log = join(dir, 'proxy.log');
  writeFileSync(log, '');
  const script = join(ROOT, 'test/helpers/negotiate-proxy.py');
  const child: ChildProcess = spawn('/usr/bin/python3', [script, kdc.keytab, log, mode], {
    env: { ...process.env, KRB5_CONFIG: kdc.config },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((r) => child.stdout!.once('data', (d) => r(Number(String(d).trim()))));
  return {
    url: `http://localhost:${port}`,
    log: () => readFileSync(log, 'utf8'),
    stop: () => new Promise<void>((r) => (child.kill('SIGTERM'), child.once('exit', () => r()))),
  };
}

describe('mutual authentication: a proxy that sends its final token', () => {
  it('a token that verifies: the row goes through, and check says so', async () => {
    const p = await finalTokenProxy('honest');
    try {
      const r = await run('mutual', { transport: 'https', proxy: p.url, cache, httpsOnly: true });
      expect(r.exitCode, r.all).toBe(0);
      expect(p.log()).toContain(`auth ${kdc.user}`);
      const c = await run('mutual-check', { transport: 'https', proxy: p.url, cache, httpsOnly: true }, 'check');
      expect(c.stdout).toMatch(/^ {2}proxy auth .*mutual authentication: verified\)$/m);
    } finally {
      await p.stop();
    }
  });

  it('a token that does not verify: 77, and not one byte went through the tunnel', async () => {
    const p = await finalTokenProxy('tamper');
    try {
      const r = await run('mutual-bad', { transport: 'https', proxy: p.url, cache, httpsOnly: true });
      expect(r.exitCode, r.all).toBe(77);
      expect(r.stderr).toContain(
        `final Negotiate token does not prove it is HTTP/localhost (mutual authentication failed)`,
      );
      const tunnels = p.log().match(/^tunnel \d+$/gm) ?? [];
      expect(tunnels.length).toBeGreaterThan(0);
      expect(
        tunnels.every((t) => t === 'tunnel 0'),
        p.log(),
      ).toBe(true);
    } finally {
      await p.stop();
    }
  });
});

describe('a proxy whose Negotiate answer is not a token', () => {
  it('77 naming the proxy and what GSSAPI said', async () => {
    const p = await finalTokenProxy('garbage');
    try {
      const r = await run('garbage', { transport: 'https', proxy: p.url, cache, httpsOnly: true });
      expect(r.exitCode, r.all).toBe(77);
      expect(r.stderr).toContain(`the proxy ${p.url} answered with a Negotiate token that GSSAPI cannot accept: `);
      expect(p.log()).toContain('garbage');
    } finally {
      await p.stop();
    }
  });
});

describe('a node without the GSSAPI library (hidden from the loader)', () => {
  const can = canUseNamespaces();
  it.runIf(can)('Negotiate only: 77 naming the missing library', { tags: ['namespaces'] }, async () => {
    const bin = withoutGssapi();
    const r = await run('nogss-only', { transport: 'http', proxy: only.named, cache, bin });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain(`the proxy ${only.named} asks for Negotiate (Kerberos), and this node has no GSSAPI`);
    expect(r.stderr).toContain('libgssapi_krb5.so.2: cannot open shared object file: No such file or directory');
  });

  it.runIf(can)('Basic still works there (the same proxy offers it too)', { tags: ['namespaces'] }, async () => {
    const bin = withoutGssapi();
    const before = both.accessLog().length;
    const r = await run('nogss-basic', {
      transport: 'http',
      proxy: both.named,
      cache,
      account: `${USER}:${PASSWORD}`,
      bin,
    });
    expect(r.exitCode, r.all).toBe(0);
    expectThrough(served(both, before), 'http', 'nogss-basic', USER);
  });
});
