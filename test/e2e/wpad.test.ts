import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { startKdc, type Kdc } from '../helpers/kdc.ts';
import { canUseNamespaces, forward, listeningInside, makeNetns, type Netns } from '../helpers/namespaces.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, putBytes } from '../helpers/s3.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';

// WPAD (`--proxy-pac auto`) on a machine of a corporate network, played by a network namespace:
// its /etc/netns/NAME/resolv.conf searches eng.corp.ferry.test and corp.ferry.test, its hosts file
// names wpad.corp.ferry.test (served inside the namespace, on its own loopback) and the proxy
// proxy.corp.ferry.test (this side of a veth pair, forwarded to squid on 127.0.0.1), which asks for
// Negotiate: the whole corporate story, PAC found by WPAD, then the user's Kerberos ticket.
const BUCKET = 'ferry-wpad';
const PROXY = 'proxy.corp.ferry.test';
const s3 = inject('s3');
const admin = adminClient(s3);
const can = canUseNamespaces();
let kdc: Kdc;
let squid: Squid;
let ns: Netns;
let proxyPort: number;
let insideConfig: string;
let cache: string;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  if (!can) return;
  kdc = await startKdc([PROXY]);
  cache = kdc.kinit();
  squid = await startSquidWith({ scheme: 'kerberos', kdc });
  ns = makeNetns(
    (outside) => `127.0.0.1 localhost\n127.0.0.1 wpad.corp.ferry.test\n${outside} ${PROXY}\n`,
    '# no nameserver: names come from the hosts file\nsearch eng.corp.ferry.test corp.ferry.test\n',
  );
  const toProxy = await forward(ns.outside, squid.port);
  const kdcPort = Number(/kdc = 127\.0\.0\.1:(\d+)/.exec(readFileSync(kdc.config, 'utf8'))![1]);
  const toKdc = await forward(ns.outside, kdcPort);
  closers.push(toProxy.close, toKdc.close);
  proxyPort = toProxy.port;
  // Inside, the KDC is reached over the veth too.
  insideConfig = join(tempDir('wpad-krb5'), 'krb5.conf');
  writeFileSync(
    insideConfig,
    readFileSync(kdc.config, 'utf8').replace(/kdc = 127\.0\.0\.1:\d+/, `kdc = ${ns.outside}:${toKdc.port}`),
  );
  const www = tempDir('wpad-www');
  writeFileSync(
    join(www, 'wpad.dat'),
    `function FindProxyForURL(url, host) {\n  return "PROXY ${PROXY}:${proxyPort}";\n}\n`,
  );
  ns.spawn('/usr/bin/python3', ['-m', 'http.server', '80', '--bind', '127.0.0.1', '--directory', www]);
  if (!(await listeningInside(ns, '127.0.0.1', 80))) throw new Error('the WPAD server did not start in the namespace');
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(async () => {
  await ns?.close();
  for (const c of closers) await c();
  await squid?.stop();
  await kdc?.stop();
  admin.destroy();
});

/** ferry inside the namespace, with the user's ticket and no proxy but the PAC WPAD finds. */
async function inside(args: string[]) {
  const dir = tempDir('wpad');
  writeAwsConfig(dir, s3);
  const env = cleanEnv({ KRB5_CONFIG: insideConfig, KRB5CCNAME: cache });
  const r = await ferry([...ns.exec.slice(1), FERRY, ...args], { cwd: dir, env, bin: ns.exec[0] });
  return { ...r, dir };
}

const check = (prefix: string) =>
  inside(['check', '--aws-config', 'config', '--proxy-pac', 'auto', '--output', `s3://${BUCKET}/${prefix}/`]);
const SOLVER = ['--no-mpi', '--', 'sh', '-c', 'cat inputs.in > result.txt'];
const row = (prefix: string) => {
  const io = ['--input', `s3://${BUCKET}/in/pintle.zip`, '--output', `s3://${BUCKET}/${prefix}/`];
  return inside(['run', '--aws-config', 'config', '--proxy-pac', 'auto', ...io, ...SOLVER]);
};

const WPAD = 'http://wpad.corp.ferry.test/wpad.dat';
const FIRST = 'http://wpad.eng.corp.ferry.test/wpad.dat';
const NEEDS = { tags: ['namespaces'] };

describe('--proxy-pac auto (WPAD) in a network namespace', () => {
  it.runIf(can)('ferry check names the PAC WPAD found, the proxy, Negotiate and the principal', NEEDS, async () => {
    const r = await check('check');
    expect(r.exitCode, r.all).toBe(0);
    const route = `^ {2}route +through proxy http://${PROXY}:${proxyPort} \\(WPAD ${WPAD}\\)$`;
    expect(r.stdout).toMatch(new RegExp(route, 'm'));
    expect(r.stdout).toMatch(
      new RegExp(`^ {2}proxy auth +offered Negotiate; answered with Negotiate as ${kdc.user} `, 'm'),
    );
    // the most specific name first: eng.corp.ferry.test has no wpad host
    expect(r.stderr).toContain(`WPAD: the PAC file is ${WPAD} (not found first: ${FIRST} (`);
  });

  it.runIf(can)(
    'a whole run through the PAC WPAD found, as the principal; ferry.log names the URL',
    NEEDS,
    async () => {
      const before = squid.accessLog().length;
      const r = await row('run');
      expect(r.exitCode, r.all).toBe(0);
      expect((await getBytes(admin, BUCKET, 'run/result.txt')).toString()).toContain('case_name pintle');
      expect(readFileSync(join(r.dir, 'ferry.log'), 'utf8')).toContain(`WPAD: the PAC file is ${WPAD}`);
      const lines = squid.accessLog().slice(before).split('\n');
      const served = lines.filter((l) => l && !l.includes('TCP_DENIED/407'));
      expect(served.some((l) => l.includes(`PUT http://127.0.0.1:`) && l.includes(`/${BUCKET}/run/result.txt`))).toBe(
        true,
      );
      expect(
        served.every((l) => l.split(/\s+/)[7] === kdc.user),
        served.join('\n'),
      ).toBe(true);
    },
  );

  it.runIf(can)('no WPAD server answers: 69 naming every URL tried', NEEDS, async () => {
    await ns.stopChildren();
    const r = await check('none');
    expect(r.exitCode, r.all).toBe(69);
    expect(r.all).toContain(`--proxy-pac auto: WPAD found no PAC file: tried ${FIRST} (`);
    expect(r.all).toContain(`${WPAD} (ECONNREFUSED`);
  });
});
