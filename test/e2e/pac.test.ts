import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { startFakeSts, type FakeSts } from '../helpers/fake-sts.ts';
import { servePac, type PacServer } from '../helpers/pac-server.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, putBytes } from '../helpers/s3.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';
import { startTlsFront, type TlsFront } from '../helpers/tls-front.ts';

// PAC files choose the proxy per host; the account comes from --proxy-auth-file whichever proxy
// is chosen; credential lookups (STS assume-role) take the same path as S3.
const BUCKET = bucketFor('ferry-pac');
const USER = 'pac-user';
const PASSWORD = 'pac s3cret: pw';
const s3 = inject('s3');
const admin = adminClient(s3);
let squid: Squid;
let front: TlsFront;
let sts: FakeSts;
const servers: PacServer[] = [];

beforeAll(async () => {
  squid = await startSquidWith({ scheme: 'digest', user: USER, password: PASSWORD });
  front = await startTlsFront(s3.endpoint);
  sts = await startFakeSts(s3);
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(async () => {
  await squid?.stop();
  await front?.close();
  await sts?.close();
  await Promise.all(servers.map((s) => s.close()));
  admin.destroy();
});

async function pacServer(body: string): Promise<PacServer> {
  const s = await servePac(`function FindProxyForURL(url, host) {\n${body}\n}\n`);
  servers.push(s);
  return s;
}

function run(out: string, extra: string[], env: Record<string, string> = {}, config?: string) {
  const dir = tempDir('pac');
  if (config) writeFileSync(join(dir, 'config'), config);
  else writeAwsConfig(dir, s3);
  writeFileSync(join(dir, 'proxy-auth'), `${USER}:${PASSWORD}\n`, { mode: 0o600 });
  const args = ['run', '--aws-config', 'config', '--proxy-auth-file', 'proxy-auth', ...extra];
  args.push('--input', `s3://${BUCKET}/in/pintle.zip`, '--output', `s3://${BUCKET}/${out}/`);
  return ferry([...args, '--no-mpi', '--', 'sh', '-c', 'cat inputs.in > result.txt'], { cwd: dir, env: cleanEnv(env) });
}

const logSince = async (before: number, until?: RegExp) => (await squid.linesSince(before, { until })).join('\n');
const s3Port = () => new URL(s3.endpoint).port;

describe('--proxy-pac', () => {
  it('sends the S3 host through squid and everything else DIRECT; the PAC is fetched once per run', async () => {
    const pac = await pacServer(
      `  if (isInNet(host, "127.0.0.0", "255.0.0.0") && shExpMatch(url, "http://*:${s3Port()}/*"))\n` +
        `    return "PROXY 127.0.0.1:${squid.port}";\n  return "DIRECT";`,
    );
    let before = squid.accessLog().length;
    const through = await run('pac-s3', ['--proxy-pac', pac.url]);
    expect(through.exitCode, through.all).toBe(0);
    expect(pac.hits()).toBe(1);
    expect(await logSince(before)).toMatch(
      new RegExp(`PUT http://127\\.0\\.0\\.1:${s3Port()}/${BUCKET}/pac-s3/result\\.txt\\S* ${USER} `),
    );
    // The HTTPS front is another host for the PAC: DIRECT, squid sees nothing.
    before = squid.accessLog().length;
    const direct = await run('pac-direct', ['--proxy-pac', pac.url, '--endpoint', front.url], {
      AWS_CA_BUNDLE: front.caFile,
    });
    expect(direct.exitCode, direct.all).toBe(0);
    expect(pac.hits()).toBe(2);
    expect(await logSince(before)).toBe('');
    expect((await getBytes(admin, BUCKET, 'pac-direct/result.txt')).toString()).toContain('case_name pintle');
  });

  it('PROXY dead; PROXY squid; DIRECT: the dead first proxy falls back to the second (FERRY_PROXY_PAC)', async () => {
    const pac = await pacServer(`  return "PROXY 127.0.0.1:9; PROXY 127.0.0.1:${squid.port}; DIRECT";`);
    const before = squid.accessLog().length;
    const r = await run('pac-fallback', ['--endpoint', front.url], {
      FERRY_PROXY_PAC: pac.url,
      AWS_CA_BUNDLE: front.caFile,
    });
    expect(r.exitCode, r.all).toBe(0);
    const connect = new RegExp(`CONNECT 127\\.0\\.0\\.1:${new URL(front.url).port} ${USER} `);
    expect(await logSince(before, connect)).toMatch(connect);
  });

  it('a broken PAC file: exit 64 naming the line', async () => {
    const dir = tempDir('pac-file');
    const file = join(dir, 'broken.pac');
    writeFileSync(file, 'function FindProxyForURL(url, host) {\n  if (host ==) return "DIRECT";\n}\n');
    const r = await run('pac-broken', ['--proxy-pac', file]);
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(`the PAC file ${file} is not usable: line 2: SyntaxError`);
  });

  it('a PAC that fails while it runs: exit 64 naming the line', async () => {
    const pac = await pacServer('  var x = 1;\n  return proxyFor(host);');
    const r = await run('pac-throws', ['--proxy-pac', pac.url]);
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('line 3: ReferenceError: proxyFor is not defined');
  });

  it('a PAC URL nobody answers: exit 69', async () => {
    const r = await run('pac-dead', ['--proxy-pac', 'http://127.0.0.1:9/proxy.pac']);
    expect(r.exitCode, r.all).toBe(69);
    expect(r.stderr).toContain('cannot fetch the PAC file http://127.0.0.1:9/proxy.pac');
  });
});

describe('credential lookups take the same path as S3', () => {
  it('a role profile: STS AssumeRole goes through the proxy the PAC chose, with the same account', async () => {
    const pac = await pacServer(`  return "PROXY 127.0.0.1:${squid.port}";`);
    const config =
      `[cfd]\nrole_arn = arn:aws:iam::123456789012:role/cfd\nsource_profile = base\nregion = us-east-1\n` +
      `endpoint_url = ${s3.endpoint}\n[base]\naws_access_key_id = AKIDBASEONLY\naws_secret_access_key = base-secret\n`;
    const before = squid.accessLog().length;
    const seen = sts.requests.length;
    const r = await run(
      'pac-sts',
      ['--proxy-pac', pac.url, '--profile', 'cfd'],
      { AWS_ENDPOINT_URL_STS: sts.url },
      config,
    );
    expect(r.exitCode, r.all).toBe(0);
    const calls = sts.requests.slice(seen);
    expect(calls.some((c) => c.body.includes('Action=AssumeRole'))).toBe(true);
    expect(calls.every((c) => /squid/.test(String(c.headers.via)))).toBe(true);
    expect(await logSince(before)).toMatch(new RegExp(`POST ${sts.url.replace(/\./g, '\\.')}/ ${USER} `));
  });
});
