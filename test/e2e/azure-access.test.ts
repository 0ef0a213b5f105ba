import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerSASPermissions } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminContainer, azureConfigText, freshContainer, getBlob, listBlobs, putBlob } from '../helpers/azure.ts';
import { cleanEnv, ferry, tempDir } from '../helpers/ferry.ts';
import { startSquid, type Squid } from '../helpers/squid.ts';
import { zipCorpus } from '../helpers/zips.ts';

// Azure through the same doors as S3: hostile archives, a SAS with exactly the permissions
// `ferry policy` prints, the same proxy decision (squid with Basic auth), the same exit codes.
// (The --timeout stalls are in azure-stalls.test.ts: they judge silence by the clock.)
const az = inject('azure');
const CONTAINER = 'ferry-access';
const c = adminContainer(az, CONTAINER);
const uri = (path: string) => `az://${az.account}/${CONTAINER}/${path}`;
const { dir: corpus, cases } = zipCorpus();
let config: string;

beforeAll(async () => {
  await freshContainer(az, CONTAINER);
  for (const k of cases) await putBlob(c, `zips/${k.file}`, readFileSync(join(corpus, k.file)));
  await putBlob(c, 'in/params.txt', 'p=1\n');
  config = join(tempDir('az-cfg'), 'azure');
  writeFileSync(config, azureConfigText(az));
});

describe('ferry get az://… on hostile archives', () => {
  const refused = cases.filter((k) => k.expect === 'refuse');
  it('has the corpus of the S3 pass', () => expect(refused.length).toBeGreaterThanOrEqual(15));

  it.each(refused.map((k) => [k.file, k] as const))('%s: exit 65, nothing written', async (_n, k) => {
    const root = tempDir('az-arch');
    mkdirSync(join(root, 'canary'));
    const target = join(root, 'target');
    const r = await ferry(['get', '--azure-config', config, ...k.args, uri(`zips/${k.file}`), target]);
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stderr).toContain(k.why!);
    expect(readdirSync(join(root, 'canary'))).toEqual([]);
    expect(existsSync(target) ? readdirSync(target, { recursive: true }) : []).toEqual([]);
  });
});

/** A container SAS with these permissions, as a query string (what goes after ? on the URI). */
async function sas(permissions: string): Promise<string> {
  const url = await c.generateSasUrl({
    permissions: ContainerSASPermissions.parse(permissions),
    expiresOn: new Date(Date.now() + 3600_000),
  });
  return url.slice(url.indexOf('?') + 1);
}

describe('a SAS on the URI with the permissions ferry policy prints', () => {
  const row = async (out: string, token: string) => {
    const dir = tempDir('az-sas');
    const env = cleanEnv({ AZURE_STORAGE_SERVICE_ENDPOINT: az.endpoint });
    const io = ['--input', `${uri('in/params.txt')}?${token}`, '--output', `${uri(out)}?${token}`];
    const r = await ferry(['run', ...io, '--no-mpi', '--', 'sh', '-c', 'cat params.txt > got.txt'], { cwd: dir, env });
    return { r, dir };
  };

  it('policy asks rwdl for a container of input and output; a row completes with it, SAS never shown', async () => {
    const p = await ferry(['policy', '--input', uri('in/params.txt'), '--output', uri('sas-ok/')]);
    expect(p.exitCode, p.all).toBe(0);
    const perms = JSON.parse(p.stdout).azure[0].sas_permissions;
    expect(perms).toBe('rwdl');
    const token = await sas(perms);
    const { r, dir } = await row('sas-ok/', token);
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBlob(c, 'sas-ok/got.txt')).toString()).toBe('p=1\n');
    const sig = decodeURIComponent(/sig=([^&]+)/.exec(token)![1]);
    for (const text of [
      r.all,
      readFileSync(join(dir, 'ferry.log'), 'utf8'),
      (await getBlob(c, 'sas-ok/_manifest.json')).toString(),
    ]) {
      expect(text).not.toContain(sig);
      expect(text).not.toContain(encodeURIComponent(sig));
    }
  });

  it.each(['rwd', 'rdl', 'wdl'])('each permission is needed: with only %s, exit 77', async (perms) => {
    const { r } = await row(`sas-${perms}/`, await sas(perms));
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('access denied');
  });

  it('without d the outputs are complete (Azurite answers a missing blob 404), but the lease stays: 77', async () => {
    const { r } = await row('sas-rwl/', await sas('rwl'));
    // A lease left behind makes the row's next attempt wait for it: not an exit 0 (issue 23).
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toMatch(/could not remove the lease .*access denied/);
    const keys = [...(await listBlobs(c, 'sas-rwl/')).keys()];
    expect(keys).toContain('sas-rwl/_ferry.lease');
    expect(keys).toContain('sas-rwl/_SUCCESS');
    expect(keys).toContain('sas-rwl/got.txt');
  });
});

/**
 * squid's access-log lines of requests, without the 407 challenges: ferry learns the proxy's scheme from its first
 * challenge (one per run), then answers it on every request.
 */
function answered(lines: string[]): string[] {
  const challenges = lines.filter((l) => l.includes('TCP_DENIED/407'));
  expect(challenges.length).toBeLessThanOrEqual(1);
  // A kept-alive connection closed before any request is logged with no user: not a request.
  return lines.filter((l) => !l.includes('TCP_DENIED/407') && !l.includes('error:transaction-end-before-headers'));
}

describe('through squid with Basic auth (the same proxy decision as S3)', () => {
  let squid: Squid;
  const USER = 'cfd-user';
  const PASSWORD = 'p@ss: w0rd';
  beforeAll(async () => {
    squid = await startSquid(USER, PASSWORD);
  });
  afterAll(async () => squid?.stop());
  const run = (out: string, env: Record<string, string>, extra: string[] = []) => {
    const args = ['run', '--azure-config', config, ...extra, '--input', uri('in/params.txt'), '--output', uri(out)];
    return ferry([...args, '--no-mpi', '--', 'sh', '-c', 'cat params.txt > got.txt'], {
      cwd: tempDir('az-proxy'),
      env: cleanEnv(env),
    });
  };

  it('HTTP_PROXY: every request goes through squid, authenticated; the password is never shown', async () => {
    const before = squid.accessLog().length;
    const r = await run('via-proxy/', { HTTP_PROXY: squid.url(USER, PASSWORD) });
    expect(r.exitCode, r.all).toBe(0);
    const lines = answered(await squid.linesSince(before));
    const sent = (method: string, path: string) =>
      lines.some((l) => l.includes(`${method} http://127.0.0.1:`) && l.includes(path));
    expect(sent('GET', `/${az.account}/${CONTAINER}/in/params.txt`)).toBe(true);
    expect(sent('PUT', `/${az.account}/${CONTAINER}/via-proxy/got.txt`)).toBe(true);
    expect(lines.filter((l) => !l.includes(` ${USER} `))).toEqual([]);
    expect(r.all).not.toContain(PASSWORD);
  });

  it('--proxy (which the Azure SDK does not read itself) sends every request through squid', async () => {
    const before = squid.accessLog().length;
    const r = await run('via-flag/', {}, ['--proxy', squid.url(USER, PASSWORD)]);
    expect(r.exitCode, r.all).toBe(0);
    const lines = answered(await squid.linesSince(before));
    expect(lines.some((l) => l.includes(`PUT http://127.0.0.1:`) && l.includes('/via-flag/got.txt'))).toBe(true);
    expect(lines.filter((l) => !l.includes(` ${USER} `))).toEqual([]);
  });

  it('a wrong proxy password: exit 77 naming the proxy; NO_PROXY bypasses it', async () => {
    const bad = await run('bad-proxy/', { HTTP_PROXY: squid.url(USER, 'wrong-secret-pw') });
    expect(bad.exitCode, bad.all).toBe(77);
    expect(bad.stderr).toMatch(/proxy http:\/\/127\.0\.0\.1:\d+ refused the BASIC credentials of user 'cfd-user'/);
    expect(bad.all).not.toContain('wrong-secret-pw');
    const before = squid.accessLog().length;
    const direct = await run('no-proxy/', { HTTP_PROXY: squid.url(USER, 'wrong-secret-pw'), NO_PROXY: '127.0.0.1' });
    expect(direct.exitCode, direct.all).toBe(0);
    expect(await squid.linesSince(before)).toEqual([]);
    expect([...(await listBlobs(c, 'no-proxy/')).keys()]).toContain('no-proxy/got.txt');
  });

  it('an endpoint nobody listens on: exit 69 naming it', async () => {
    const dead = join(tempDir('az-dead'), 'azure');
    writeFileSync(dead, azureConfigText(az, az.key, `http://127.0.0.1:9/${az.account}`));
    const r = await ferry([
      'get',
      '--azure-config',
      dead,
      '--retries',
      '2',
      uri('in/params.txt'),
      tempDir('az-dead-out'),
    ]);
    expect(r.exitCode, r.all).toBe(69);
    expect(r.stderr).toContain('http://127.0.0.1:9');
  });
});
