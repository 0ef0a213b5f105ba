import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { startSquid, type Squid } from '../helpers/squid.ts';
import { startTlsFront } from '../helpers/tls-front.ts';

// A real authenticating proxy (squid, Basic auth) between ferry and the S3 server.
const BUCKET = bucketFor('ferry-proxy');
const USER = 'cfd-user';
const PASSWORD = 'p@ss: w0rd'; // @, : and a space: must be percent-encoded in the URL
const s3 = inject('s3');
const admin = adminClient(s3);
let squid: Squid;

beforeAll(async () => {
  squid = await startSquid(USER, PASSWORD);
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(async () => {
  await squid?.stop();
  admin.destroy();
});

function run(out: string, env: Record<string, string>, extra: string[] = []) {
  const dir = tempDir('proxy');
  writeAwsConfig(dir, s3);
  return ferry(
    [
      'run',
      '--aws-config',
      'config',
      ...extra,
      '--input',
      `s3://${BUCKET}/in/pintle.zip`,
      '--output',
      `s3://${BUCKET}/${out}/`,
      '--no-mpi',
      '--',
      'sh',
      '-c',
      'cat inputs.in > result.txt',
    ],
    { cwd: dir, env: cleanEnv(env) },
  );
}

describe('through squid with Basic auth', () => {
  it('HTTP_PROXY with a percent-encoded password: the whole run goes through the proxy, authenticated', async () => {
    const before = squid.accessLog().length;
    const r = await run('via-env', { HTTP_PROXY: squid.url(USER, PASSWORD) });
    expect(r.exitCode, r.all).toBe(0);
    // The one unauthenticated request is the challenge ferry answers (a HEAD of the endpoint's root).
    const lines = (await squid.linesSince(before)).filter((l) => !l.includes('TCP_DENIED/407'));
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.every((l) => l.includes(` ${USER} `))).toBe(true);
    expect(lines.some((l) => l.includes('GET http://127.0.0.1'))).toBe(true);
    expect(lines.some((l) => l.includes('PUT http://127.0.0.1'))).toBe(true);
    expect((await getBytes(admin, BUCKET, 'via-env/result.txt')).toString()).toContain('case_name pintle');
    expect(r.all).not.toContain(PASSWORD);
  });

  it.each([
    ['--proxy', 'via-flag', (url: string) => ({ env: {}, extra: ['--proxy', url] })],
    ['lowercase http_proxy', 'via-lower', (url: string) => ({ env: { http_proxy: url }, extra: [] })],
  ])('%s works the same: download and upload go through squid, authenticated', async (_how, out, how) => {
    // The server answers directly too: only squid's log shows that the proxy was used.
    const { env, extra } = how(squid.url(USER, PASSWORD));
    const before = squid.accessLog().length;
    const r = await run(out, env, extra);
    expect(r.exitCode, r.all).toBe(0);
    const lines = (await squid.linesSince(before)).filter((l) => !l.includes('TCP_DENIED/407'));
    const sent = (method: string, path: string) =>
      lines.some((l) => l.includes(`${method} http://127.0.0.1:`) && l.includes(path));
    expect(sent('GET', `/${BUCKET}/in/pintle.zip`)).toBe(true);
    expect(sent('PUT', `/${BUCKET}/${out}/result.txt`)).toBe(true);
    expect(lines.every((l) => l.includes(` ${USER} `))).toBe(true);
    expect((await getBytes(admin, BUCKET, `${out}/result.txt`)).toString()).toContain('case_name pintle');
  });

  it('a wrong password: exit 77 naming the proxy, never printing the password', async () => {
    const r = await run('bad-pass', { HTTP_PROXY: squid.url(USER, 'wrong-secret-pw') });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain(`refused the BASIC credentials of user '${USER}'`);
    expect(r.stderr).toContain(`127.0.0.1:${squid.port}`);
    expect(r.all).not.toContain('wrong-secret-pw');
  });

  it('NO_PROXY=127.0.0.1 bypasses the proxy (no new access-log lines)', async () => {
    const before = squid.accessLog().length;
    const r = await run('bypass', { HTTP_PROXY: squid.url(USER, PASSWORD), NO_PROXY: '127.0.0.1' });
    expect(r.exitCode, r.all).toBe(0);
    expect(await squid.linesSince(before)).toEqual([]);
    expect([...(await listAll(admin, BUCKET, 'bypass/')).keys()]).toContain('bypass/result.txt');
  });

  it('a proxy nobody listens on: exit 69 naming it', async () => {
    const r = await run('dead-proxy', { HTTP_PROXY: 'http://127.0.0.1:9' }, ['--retries', '2']);
    expect(r.exitCode, r.all).toBe(69);
    expect(r.stderr).toContain('through proxy http://127.0.0.1:9');
  });
});

describe('TLS with a certificate from a private CA (a TLS-inspecting proxy)', () => {
  it(
    'AWS_CA_BUNDLE makes it trusted, also tunneled through squid (CONNECT); without it: exit 69 naming the ' + 'fix',
    async () => {
      const front = await startTlsFront(s3.endpoint);
      try {
        const withCa = await run('tls-ok', { AWS_CA_BUNDLE: front.caFile }, ['--endpoint', front.url]);
        expect(withCa.exitCode, withCa.all).toBe(0);
        expect((await getBytes(admin, BUCKET, 'tls-ok/result.txt')).toString()).toContain('case_name pintle');
        const before = squid.accessLog().length;
        const tunneled = await run(
          'tls-proxy',
          { AWS_CA_BUNDLE: front.caFile, HTTPS_PROXY: squid.url(USER, PASSWORD) },
          ['--endpoint', front.url],
        );
        expect(tunneled.exitCode, tunneled.all).toBe(0);
        const connect = new RegExp(`CONNECT 127\\.0\\.0\\.1:\\d+ ${USER} `);
        expect((await squid.linesSince(before, { until: connect })).join('\n')).toMatch(connect);
        const without = await run('tls-bad', { NODE_EXTRA_CA_CERTS: '' }, ['--endpoint', front.url, '--retries', '1']);
        expect(without.exitCode, without.all).toBe(69);
        expect(without.stderr).toContain('AWS_CA_BUNDLE');
      } finally {
        await front.close();
      }
    },
  );
});
