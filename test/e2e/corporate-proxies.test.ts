import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ntHash, ntowfv2 } from '../../agent/net/ntlm.ts';
import { startCntlm, type Cntlm } from '../helpers/cntlm.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { startRecorder } from '../helpers/recorder.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';
import { startTlsFront, type TlsFront } from '../helpers/tls-front.ts';

// Real squids on loopback asking for Digest, NTLM or Basic; cntlm in front of the NTLM one
// (Negotiate, with a real KDC: negotiate.test.ts). Each whole `ferry run` goes through plain http
// (forwarded requests) and through CONNECT to the private-CA HTTPS front. The proxy's address comes
// from HTTP(S)_PROXY, the account from --proxy-auth-file.
const BUCKET = bucketFor('ferry-corp');
const USER = 'cfd-user';
const DOMAIN = 'CORP';
const PASSWORD = 'Corp: p@ss w0rd!';
const s3 = inject('s3');
const admin = adminClient(s3);
const squids: Record<string, Squid> = {};
let front: TlsFront;
let cntlm: Cntlm;

beforeAll(async () => {
  squids.basic = await startSquidWith({ scheme: 'basic', user: USER, password: PASSWORD });
  // A nonce is good for 3 requests: the run goes on through many stale=true renewals.
  squids.digest = await startSquidWith({ scheme: 'digest', user: USER, password: PASSWORD, nonceMaxCount: 3 });
  squids.ntlm = await startSquidWith({ scheme: 'ntlm' });
  const key = ntowfv2(PASSWORD, USER, DOMAIN).toString('hex');
  squids.ntlmCheck = await startSquidWith({ scheme: 'ntlm-check', user: USER, domain: DOMAIN, ntowfv2: key });
  cntlm = await startCntlm(`127.0.0.1:${squids.ntlm.port}`, { domain: DOMAIN, user: USER, password: PASSWORD });
  front = await startTlsFront(s3.endpoint);
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(async () => {
  await Promise.all(Object.values(squids).map((s) => s.stop()));
  await cntlm?.stop();
  await front?.close();
  admin.destroy();
});

type Transport = 'http' | 'https';
interface RunOptions {
  transport: Transport;
  proxy: string;
  account?: string;
  extra?: string[];
  solver?: string;
}

async function run(out: string, o: RunOptions) {
  const dir = tempDir('corp');
  writeAwsConfig(dir, s3);
  const extra = [...(o.extra ?? [])];
  if (o.account !== undefined) {
    writeFileSync(join(dir, 'proxy-auth'), `${o.account}\n`, { mode: 0o600 });
    extra.push('--proxy-auth-file', 'proxy-auth');
  }
  if (o.transport === 'https') extra.push('--endpoint', front.url);
  const env = cleanEnv({
    HTTP_PROXY: o.proxy,
    HTTPS_PROXY: o.proxy,
    ...(o.transport === 'https' ? { AWS_CA_BUNDLE: front.caFile } : {}),
  });
  const solver = o.solver ?? 'cat inputs.in > result.txt';
  const args = ['run', '--aws-config', 'config', ...extra, '--input', `s3://${BUCKET}/in/pintle.zip`];
  const r = await ferry([...args, '--output', `s3://${BUCKET}/${out}/`, '--no-mpi', '--', 'sh', '-c', solver], {
    cwd: dir,
    env,
  });
  return { ...r, dir };
}

/** squid's access-log lines since `before`, without the 407s (the challenges ferry answers). */
async function served(squid: Squid, before: number, transport: Transport): Promise<string[]> {
  const until = transport === 'https' ? /CONNECT / : undefined;
  return (await squid.linesSince(before, { until })).filter(
    (l) => !l.includes('TCP_DENIED/407') && !l.includes('error:transaction-end-before-headers'),
  );
}

/** `user`: the name squid logs, or undefined for any authenticated one (not '-'). */
function expectThrough(lines: string[], transport: Transport, out: string, user: string | undefined): void {
  expect(lines.length).toBeGreaterThan(0);
  if (transport === 'http') {
    const sent = (m: string, path: string) =>
      lines.some((l) => l.includes(`${m} http://127.0.0.1:`) && l.includes(path));
    expect(sent('GET', `/${BUCKET}/in/pintle.zip`)).toBe(true);
    expect(sent('PUT', `/${BUCKET}/${out}/result.txt`)).toBe(true);
  } else {
    expect(lines.every((l) => l.includes(`CONNECT 127.0.0.1:${new URL(front.url).port}`))).toBe(true);
  }
  const who = (l: string) => l.split(/\s+/)[7];
  expect(
    lines.every((l) => (user ? who(l).includes(user) : who(l) !== '-')),
    lines.join('\n'),
  ).toBe(true);
}

const SCHEMES = [
  { name: 'Digest', squid: 'digest', account: `${USER}:${PASSWORD}`, logged: USER },
  { name: 'NTLM (ntlm_fake_auth)', squid: 'ntlm', account: `${DOMAIN}\\${USER}:${PASSWORD}`, logged: USER },
  { name: 'NTLM (password checked)', squid: 'ntlmCheck', account: `${DOMAIN}\\${USER}:${PASSWORD}`, logged: USER },
  { name: 'Basic', squid: 'basic', account: `${USER}:${PASSWORD}`, logged: USER },
];

describe.each(['http', 'https'] as const)('a whole run through squid, %s', (transport) => {
  it.each(SCHEMES)('$name: the account from --proxy-auth-file answers the proxy', async (scheme) => {
    const squid = squids[scheme.squid];
    const out = `${scheme.squid}-${transport}`;
    const before = squid.accessLog().length;
    const r = await run(out, { transport, proxy: squid.address, account: scheme.account });
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, `${out}/result.txt`)).toString()).toContain('case_name pintle');
    expectThrough(await served(squid, before, transport), transport, out, scheme.logged);
    const since = await squid.linesSince(before);
    if (scheme.squid === 'digest' && transport === 'http') {
      // After the first challenge, each further 407 was a stale nonce, renewed with the same password.
      const challenges = since.filter((l) => l.includes('TCP_DENIED/407'));
      expect(challenges.length).toBeGreaterThan(2);
    }
    if (transport === 'https') {
      // Tunnels are kept alive and reused: a few for the whole run (agent-base once pooled them under
      // another name than it looked them up by: one CONNECT, TLS handshake and proxy login per request).
      const tunnels = since.filter((l) => l.includes('CONNECT') && !l.includes('/407'));
      expect(tunnels.length, since.join('\n')).toBeGreaterThan(0);
      expect(tunnels.length, since.join('\n')).toBeLessThanOrEqual(4);
    }
  });

  it.each([
    { name: 'Basic', squid: 'basic', account: `${USER}:not-the-password`, scheme: 'BASIC', user: USER },
    { name: 'Digest', squid: 'digest', account: `${USER}:not-the-password`, scheme: 'DIGEST', user: USER },
    {
      name: 'NTLM',
      squid: 'ntlmCheck',
      account: `${DOMAIN}\\${USER}:not-the-password`,
      scheme: 'NTLM',
      user: `${DOMAIN}\\${USER}`,
    },
  ])('$name with a wrong password: exit 77 naming proxy, scheme and user, never the password', async (c) => {
    const r = await run(`wrong-${c.squid}-${transport}`, {
      transport,
      proxy: squids[c.squid].address,
      account: c.account,
      extra: ['--retries', '2'],
    });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain(
      `the proxy http://127.0.0.1:${squids[c.squid].port} refused the ${c.scheme} credentials of user '${c.user}'`,
    );
    expect(r.all).not.toContain('not-the-password');
    expect(readFileSync(join(r.dir, 'ferry.log'), 'utf8')).not.toContain('not-the-password');
  });

  it('the cntlm route: ferry → cntlm (no credentials) → squid asking for NTLM', async () => {
    const out = `cntlm-${transport}`;
    const before = squids.ntlm.accessLog().length;
    const r = await run(out, { transport, proxy: cntlm.url });
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, `${out}/result.txt`)).toString()).toContain('case_name pintle');
    // ntlm_fake_auth reads the names of cntlm's messages as OEM although they are Unicode ('C\\c'):
    // any authenticated name will do here.
    expectThrough(await served(squids.ntlm, before, transport), transport, out, undefined);
  });
});

describe('direct PUTs through the proxies', () => {
  it.each(SCHEMES)(
    '$name: 40 small outputs, those after the first few as direct PUTs, none refused',
    async (scheme) => {
      // The recorder is the endpoint behind squid: it sees which requests came through the SDK's stack.
      const rec = await startRecorder(s3.endpoint);
      const out = `direct-${scheme.squid}`;
      const solver = 'for i in $(seq 40); do echo "log $i" > "out_$i.txt"; done';
      const extra = ['--endpoint', rec.url, '--small-concurrency', '4'];
      const r = await run(out, {
        transport: 'http',
        proxy: squids[scheme.squid].address,
        account: scheme.account,
        extra,
        solver,
      }).finally(() => rec.close());
      expect(r.exitCode, r.all).toBe(0);
      const puts = rec.requests.filter((q) => q.method === 'PUT' && /\/out_\d+\.txt/.test(q.path));
      expect(puts.length, 'one PUT per file: none sent again').toBe(40);
      expect(puts.filter((q) => !q.sdk).length).toBeGreaterThanOrEqual(32);
      expect(puts.filter((q) => q.status !== 200)).toEqual([]);
      for (const i of [1, 20, 40])
        expect((await getBytes(admin, BUCKET, `${out}/out_${i}.txt`)).toString()).toBe(`log ${i}\n`);
    },
  );
});

describe('the proxy password stays secret', () => {
  it('no byte ferry wrote (console, ferry.log, manifest, objects) holds the password or the NT hash', async () => {
    const out = 'secret-check';
    const r = await run(out, {
      transport: 'http',
      proxy: squids.ntlmCheck.address,
      account: `${DOMAIN}\\${USER}:${PASSWORD}`,
      // Everything the run dir holds goes up, except the job's own inputs (the account file among them).
      extra: ['--upload-all'],
      // The solver's environment is the one ferry was given: it shows what ferry added.
      solver: 'cat inputs.in > result.txt; env > solver-env.txt',
    });
    expect(r.exitCode, r.all).toBe(0);
    const hash = ntHash(PASSWORD);
    const forms = [
      PASSWORD,
      encodeURIComponent(PASSWORD),
      Buffer.from(PASSWORD, 'utf16le').toString('latin1'),
      hash.toString('hex'),
      hash.toString('hex').toUpperCase(),
      hash.toString('base64'),
      hash.toString('latin1'),
    ];
    const written: Array<[string, string]> = [
      ['console', r.all],
      ['ferry.log', readFileSync(join(r.dir, 'ferry.log'), 'latin1')],
    ];
    const objects = await listAll(admin, BUCKET, `${out}`);
    expect([...objects.keys()]).toContain(`${out}/_manifest.json`);
    for (const key of objects.keys()) written.push([key, (await getBytes(admin, BUCKET, key)).toString('latin1')]);
    for (const [what, text] of written) {
      for (const f of forms) expect(text.includes(f), `${what} holds a form of the password`).toBe(false);
    }
    expect([...objects.keys()].filter((k) => k.includes('proxy-auth'))).toEqual([]);
    expect(existsSync(join(r.dir, 'proxy-auth')), 'the wipe deletes the account file like --aws-config').toBe(false);
    const env = (await getBytes(admin, BUCKET, `${out}/solver-env.txt`)).toString();
    expect(env).not.toMatch(/proxy-auth|FERRY_PROXY/i);
    // ferry's own files that stay in the run dir hold none of it either.
    for (const f of readdirSync(r.dir).filter((n) => n.startsWith('.ferry') || n === 'ferry.log')) {
      const text = readFileSync(join(r.dir, f), 'latin1');
      for (const form of forms) expect(text.includes(form), `${f} holds a form of the password`).toBe(false);
    }
  });
});
