import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NetCore } from '../../agent/net/core.ts';
import { PacError } from '../../agent/net/errors.ts';
import { compilePac, loadPac } from '../../agent/net/pac.ts';
import { pacRoutes } from '../../agent/net/route.ts';

const pac = (body: string) => compilePac(`function FindProxyForURL(url, host) {\n${body}\n}`, 'test.pac');

describe('PAC helpers, evaluated in the sandbox', () => {
  it.each([
    ['dnsDomainIs(host, ".corp.example")', 'https://s3.corp.example/', 'true'],
    ['dnsDomainIs(host, ".corp.example")', 'https://s3.amazonaws.com/', 'false'],
    ['shExpMatch(host, "*.amazonaws.com")', 'https://s3.eu-west-1.amazonaws.com/', 'true'],
    ['shExpMatch(url, "http://127.0.0.1:7480/*")', 'http://127.0.0.1:7480/', 'true'],
    ['shExpMatch(host, "s3.?.example")', 'https://s3.ab.example/', 'false'],
    ['isPlainHostName(host)', 'http://minio:9000/', 'true'],
    ['localHostOrDomainIs(host, "minio.corp")', 'http://minio:9000/', 'true'],
    ['dnsDomainLevels(host)', 'https://a.b.c/', '2'],
    ['isInNet(host, "10.0.0.0", "255.0.0.0")', 'http://10.1.2.3/', 'true'],
    ['isInNet(host, "10.0.0.0", "255.255.0.0")', 'http://10.1.2.3/', 'false'],
    ['isInNet(host, "127.0.0.0", "255.0.0.0")', 'http://localhost/', 'true'],
    ['/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(myIpAddress())', 'http://x/', 'true'],
    ['isResolvable("no-such-host.invalid")', 'http://x/', 'false'],
  ])('%s for %s', async (expr, url, want) => {
    const p = pac(`return String(${expr});`);
    const host = new URL(url).hostname;
    await p.resolve(host);
    await p.resolve('no-such-host.invalid');
    expect(p.find(url, host)).toBe(want);
  });
});

describe('the PAC is someone else’s code: a sandbox', () => {
  it('sees no require, process or ferry objects, and cannot build code from strings', () => {
    const p = pac(`
      var seen = [typeof require, typeof process, typeof globalThis.Buffer, typeof module].join(',');
      var escape;
      try { escape = this.constructor.constructor('return typeof process')(); } catch (e) { escape = e.name; }
      try { escape += ',' + dnsResolve.constructor('return 1')(); } catch (e) { escape += ',' + e.name; }
      return seen + '|' + escape;`);
    expect(p.find('http://x/', 'x')).toBe('undefined,undefined,undefined,undefined|EvalError,EvalError');
  });
  it('a PAC that never returns is stopped: exit 64', () => {
    const p = pac('while (true) {}');
    const err = (() => {
      try {
        p.find('http://x/', 'x');
      } catch (e) {
        return e as PacError;
      }
    })();
    expect(err).toBeInstanceOf(PacError);
    expect(err!.exitCode).toBe(64);
    expect(err!.message).toContain('did not finish');
  });
});

describe('a broken PAC: exit 64 naming the line', () => {
  const fails = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e as PacError;
    }
    throw new Error('did not fail');
  };
  it('a syntax error', () => {
    const e = fails(() => compilePac('function FindProxyForURL(url, host) {\n  var a = ;\n  return "DIRECT";\n}', 'p'));
    expect(e.exitCode).toBe(64);
    expect(e.message).toContain('line 2');
    expect(e.message).toContain('SyntaxError');
  });
  it('an error while it runs', () => {
    const e = fails(() => pac('  var x = 1;\n  return notDefined(host);').find('http://x/', 'x'));
    expect(e.exitCode).toBe(64);
    expect(e.message).toContain('line 3');
    expect(e.message).toContain('ReferenceError: notDefined is not defined');
  });
  it('no FindProxyForURL', () => {
    expect(fails(() => compilePac('var x = 1;', 'p')).message).toContain('defines no function FindProxyForURL');
  });
  it('a PAC file that does not exist: 64; a PAC URL nobody answers: 69', async () => {
    const o = { timeoutMs: 1000, info: () => {} };
    await expect(loadPac(join(tmpdir(), 'no-such.pac'), o)).rejects.toMatchObject({ exitCode: 64 });
    await expect(loadPac('http://127.0.0.1:9/proxy.pac', o)).rejects.toMatchObject({ exitCode: 69 });
  });
  it('reads a PAC file from a path', async () => {
    const f = join(tmpdir(), `ferry-unit-${process.pid}.pac`);
    writeFileSync(f, 'function FindProxyForURL(u, h) { return "PROXY p:3128; DIRECT"; }');
    expect((await loadPac(f, { timeoutMs: 1000, info: () => {} })).find('http://x/', 'x')).toBe('PROXY p:3128; DIRECT');
  });
});

describe('routes', () => {
  it('PROXY a; PROXY b; DIRECT in order; SOCKS skipped; empty means DIRECT', () => {
    const r = pacRoutes('PROXY a.corp:8080; SOCKS s:1080; PROXY b.corp:3128;DIRECT');
    expect(r.routes.map((x) => (x.direct ? 'DIRECT' : x.label))).toEqual([
      'http://a.corp:8080',
      'http://b.corp:3128',
      'DIRECT',
    ]);
    expect(r.skipped).toEqual(['SOCKS s:1080']);
    expect(pacRoutes('').routes).toEqual([{ direct: true }]);
  });
  const core = (o: Partial<ConstructorParameters<typeof NetCore>[0]>) =>
    new NetCore({ env: {}, connectTimeoutMs: 1000, idleTimeoutMs: 1000, warn: () => undefined, ...o });
  const first = (c: NetCore, url: string) => {
    const r = c.routes(new URL(url))[0];
    return r.direct ? 'DIRECT' : r.label;
  };
  it('--proxy, else the PAC, else the environment', () => {
    const p = pac('return "PROXY pac.corp:8080";');
    const env = { HTTPS_PROXY: 'http://env.corp:3128' };
    expect(first(core({ explicit: 'http://flag.corp:1', pac: p, env }), 'https://s3.amazonaws.com/')).toBe(
      'http://flag.corp:1',
    );
    expect(first(core({ pac: p, env }), 'https://s3.amazonaws.com/')).toBe('http://pac.corp:8080');
    expect(first(core({ env }), 'https://s3.amazonaws.com/')).toBe('http://env.corp:3128');
    expect(first(core({}), 'https://s3.amazonaws.com/')).toBe('DIRECT');
  });
  it('instance metadata and container credential endpoints never go through a proxy', () => {
    const p = pac('return "PROXY pac.corp:8080";');
    const env = { HTTP_PROXY: 'http://env.corp:3128', HTTPS_PROXY: 'http://env.corp:3128' };
    for (const c of [core({ explicit: 'http://flag.corp:1' }), core({ pac: p }), core({ env })]) {
      expect(first(c, 'http://169.254.169.254/latest/api/token')).toBe('DIRECT');
      expect(first(c, 'http://169.254.170.2/v2/credentials/x')).toBe('DIRECT');
      expect(first(c, 'http://[fd00:ec2::254]/latest/api/token')).toBe('DIRECT');
      expect(first(c, 'https://sts.amazonaws.com/')).not.toBe('DIRECT');
    }
  });
});
