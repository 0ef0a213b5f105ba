import { execFileSync } from 'node:child_process';
import { pipeFds } from '../helpers/pipe-fds.ts';
import { appendFileSync, closeSync, existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createServer as createHttpServer, request } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { loadNative, openNative, SOURCE_ADDON } from '../../agent/native/index.ts';
import { openNetwork } from '../../agent/net/index.ts';
import { setQuickAck } from '../../agent/net/quick-ack.ts';
import { ROOT } from '../helpers/env.ts';

// In a child process: becoming a subreaper lasts for the life of the process, not of a test.
const probe = `
import { loadNative } from './agent/native/index.ts';
const l = loadNative();
if (!l.ok) throw new Error(l.why);
const before = l.native.isChildSubreaper();
l.native.setChildSubreaper();
console.log(JSON.stringify({ before, after: l.native.isChildSubreaper(), reapInit: l.native.reap(1) }));
`;

// 112 MiB of 64 KiB buffers freed between kept ones (every 8th): glibc keeps the pages until malloc_trim.
const trimProbe = `
import { loadNative } from './agent/native/index.ts';
const l = loadNative();
if (!l.ok) throw new Error(l.why);
const mib = () => process.memoryUsage.rss() / 1048576;
const keep = [];
let drop = [];
for (let i = 0; i < 2048; i++) (i % 8 === 0 ? keep : drop).push(Buffer.allocUnsafeSlow(64 * 1024).fill(i));
const full = mib();
drop = [];
// V8 frees the backing stores of dead buffers on a background thread, some time after the collection:
// wait until RSS stops falling by itself, then trim, again while more of them are freed.
let untrimmed = full;
for (let i = 0; i < 10; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 50));
  untrimmed = Math.min(untrimmed, mib());
}
let after = untrimmed;
let trimmed = false;
for (let i = 0; i < 40 && full - after < 64; i++) {
  gc();
  trimmed = l.native.trimMemory() || trimmed;
  after = mib();
  await new Promise((r) => setTimeout(r, 50));
}
console.log(JSON.stringify({ full, untrimmed, after, trimmed, kept: keep.length }));
`;

describe('the native addon (agent/native)', () => {
  it('loads from the source tree and makes this process the subreaper of its orphans', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      encoding: 'utf8',
    });
    // reap(1): init is not a child of ours, so waitpid says ECHILD (10)
    expect(JSON.parse(out)).toEqual({ before: false, after: true, reapInit: -10 });
  });

  it('trimMemory hands the free pages inside malloc arenas back (RSS falls, the kept buffers stay)', () => {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', trimProbe],
      { encoding: 'utf8', cwd: ROOT },
    );
    const r = JSON.parse(out) as { full: number; untrimmed: number; after: number; trimmed: boolean; kept: number };
    expect(r.kept).toBe(256);
    expect(r.full - r.untrimmed).toBeLessThan(32); // freed, but glibc kept the pages
    expect(r.trimmed).toBe(true);
    expect(r.full - r.after).toBeGreaterThan(64); // of the 112 MiB freed (measured: ~116 MiB less)
  });

  it('a missing addon is a reason, not a crash', () => {
    const l = openNative('/nonexistent/ferry-native.node');
    expect(l.ok).toBe(false);
    expect(!l.ok && l.why).toMatch(/^ferry's native addon did not load: .*\/nonexistent\/ferry-native\.node/);
  });
});

describe('inotify through the addon (inotify.c)', () => {
  it('tells of entries created, moved and removed in a folder, never of writes to its files', () => {
    const l = loadNative();
    if (!l.ok) throw new Error(l.why);
    const n = l.native;
    const dir = mkdtempSync(join(tmpdir(), 'ferry-inotify-'));
    writeFileSync(join(dir, 'log.txt'), '');
    const fd = n.inotifyOpen();
    expect(fd).toBeGreaterThan(0);
    try {
      const wd = n.inotifyWatch(fd, dir);
      expect(wd).toBeGreaterThan(0);
      expect(n.inotifyRead(fd)).toEqual([]); // nothing yet, and no wait for it
      for (let i = 0; i < 1000; i++) appendFileSync(join(dir, 'log.txt'), `line ${i}\n`);
      expect(n.inotifyRead(fd)).toEqual([]); // a thousand writes: not one event
      writeFileSync(join(dir, 'new.txt'), 'n');
      renameSync(join(dir, 'new.txt'), join(dir, 'moved.txt'));
      rmSync(join(dir, 'moved.txt'));
      const got = n.inotifyRead(fd);
      const IN = { CREATE: 0x100, MOVED_FROM: 0x40, MOVED_TO: 0x80, DELETE: 0x200 };
      expect(got).toEqual([
        wd,
        IN.CREATE,
        'new.txt',
        wd,
        IN.MOVED_FROM,
        'new.txt',
        wd,
        IN.MOVED_TO,
        'moved.txt',
        wd,
        IN.DELETE,
        'moved.txt',
      ]);
      for (let i = 0; i < 500; i++) writeFileSync(join(dir, `t${i}.tmp`), 't');
      // Told the first two; the other 498 read and dropped, said as "there were more" (IN_Q_OVERFLOW).
      expect(n.inotifyRead(fd, 2)).toEqual([wd, IN.CREATE, 't0.tmp', wd, IN.CREATE, 't1.tmp', -1, 0x4000, '']);
      expect(n.inotifyRead(fd)).toEqual([]);
      expect(n.inotifyWatch(fd, join(dir, 'log.txt'))).toBe(-20); // a file, not a folder: ENOTDIR
      expect(n.inotifyWatch(fd, join(dir, 'gone'))).toBe(-2); // ENOENT
      expect(n.inotifyUnwatch(fd, wd)).toBe(0);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The newest GLIBC_x.y version a binary needs (objdump -T), as [major, minor]. */
function newestGlibc(file: string): [number, number] {
  const versions = [
    ...execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).matchAll(
      /GLIBC_(\d+)\.(\d+)/g,
    ),
  ];
  return versions
    .map((m) => [Number(m[1]), Number(m[2])] as [number, number])
    .sort((a, b) => b[0] - a[0] || b[1] - a[1])[0];
}

describe('the addon asks no more of the C library than the executable', () => {
  it('needs glibc 2.28 at most (dlopen and dlsym pinned to their old versions), and no newer than dist/ferry', () => {
    const [major, minor] = newestGlibc(SOURCE_ADDON);
    expect(major * 1000 + minor, `the addon needs GLIBC_${major}.${minor}`).toBeLessThanOrEqual(2028);
    const dynamic = execFileSync('objdump', ['-T', SOURCE_ADDON], { encoding: 'utf8' });
    expect(dynamic).toMatch(/\(GLIBC_2\.2\.5\)\s+dlopen$/m);
    expect(dynamic).not.toMatch(/\*UND\*.*\s(gss|krb5)_\w+$/m); // GSSAPI is opened at first use, never linked
    const built = join(ROOT, 'dist/ferry');
    if (existsSync(built)) {
      const [bm, bn] = newestGlibc(built);
      expect(major * 1000 + minor).toBeLessThanOrEqual(bm * 1000 + bn);
    }
  });
});

// In a child process: the library reads KRB5CCNAME and KRB5_CONFIG when it is asked.
const gss = `
import { loadNative } from './agent/native/index.ts';
const l = loadNative();
if (!l.ok) throw new Error(l.why);
const n = l.native;
const out = {};
const routine = (e) => (e.major >>> 16) & 0xff;
try { n.gssCredential(); } catch (e) { out.credential = { gss: e.gss, routine: routine(e), detail: e.detail }; }
out.cache = n.gssCache();
try { n.gssContext('HTTP@localhost'); } catch (e) { out.context = routine(e); }
try { n.gssContext(42); } catch (e) { out.badName = e.constructor.name + ': ' + e.message; }
try { n.gssStep({}, null); } catch (e) { out.badStep = e.constructor.name + ': ' + e.message; }
console.log(JSON.stringify(out));
`;

describe('GSSAPI through the addon (gss.c)', () => {
  it('no ticket: a GSSAPI error (no credentials), the cache named; bad arguments are TypeErrors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-gss-'));
    writeFileSync(join(dir, 'krb5.conf'), '[libdefaults]\n  default_realm = FERRY.TEST\n');
    const cache = `FILE:${join(dir, 'none')}`;
    const env = { ...process.env, KRB5CCNAME: cache, KRB5_CONFIG: join(dir, 'krb5.conf') };
    const out = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', gss], { encoding: 'utf8', env }),
    );
    expect(out.credential).toEqual({
      gss: true,
      routine: 7,
      detail: `No Kerberos credentials available (default cache: ${cache})`,
    });
    expect(out.cache).toMatchObject({ cache, principal: null });
    expect(out.cache.error).toContain('No credentials cache found');
    expect(out.context).toBe(7);
    expect(out.badName).toBe('TypeError: gssContext(service): service must be a string like HTTP@host');
    expect(out.badStep).toBe('TypeError: gssStep(ctx, token): ctx must come from gssContext()');
  });
});

describe('TCP_QUICKACK through the addon (quickAck)', () => {
  it('is set on a connected TCP socket; refused on a pipe and on a bad descriptor', async () => {
    const l = loadNative();
    if (!l.ok) throw new Error(l.why);
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    expect(l.native.quickAck(fd)).toBe(true);
    socket.destroy();
    server.close();
    const [r] = pipeFds();
    expect(l.native.quickAck(r)).toBe(false); // ENOTSOCK
    expect(l.native.quickAck(-1)).toBe(false);
  });

  it('the http agents ask for it once each request is written, on that request socket', async () => {
    const l = loadNative();
    if (!l.ok) throw new Error(l.why);
    const asked: number[] = [];
    setQuickAck((fd) => (asked.push(fd), l.native.quickAck(fd)));
    const server = createHttpServer((_q, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const net = await openNetwork({
      env: {},
      maxSockets: 1,
      connectTimeoutMs: 5000,
      idleTimeoutMs: 5000,
      warn: () => {},
      info: () => {},
    });
    try {
      const fds: number[] = [];
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((done, fail) => {
          const q = request({
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            agent: net.agents.httpAgent,
          });
          q.on('response', (res) => {
            fds.push((q.socket as unknown as { _handle: { fd: number } })._handle.fd);
            res.resume().on('end', () => done());
          });
          q.on('error', fail).end();
        });
      }
      expect(asked).toEqual(fds); // one per request, kept-alive: the same connection each time
      expect(new Set(fds).size).toBe(1);
    } finally {
      setQuickAck(undefined);
      net.destroy();
      server.close();
    }
  });
});
