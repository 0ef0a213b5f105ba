import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { ROOT } from '../helpers/env.ts';
import { startFakeSts } from '../helpers/fake-sts.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { adminClient, bucketFor, CHECKOUT, emptyPrefix, ensureBucket, listAll, putBytes } from '../helpers/s3.ts';
import { startRecorder } from '../helpers/recorder.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';
// @ts-expect-error a plain ES module without types (it also runs as the credential_process)
import { assumeRole, call } from '../helpers/sts.mjs';

// Every way a customer hands over its AWS identity, as whole rows against Ceph RGW with STS on: a
// role assumed through source_profile (directly and through an authenticating squid), a
// credential_process (also one whose credentials expire while the solver runs), and the refusals.
const BUCKET = bucketFor('ferry-sts');
const s3 = inject('s3');
const admin = adminClient(s3);
const visitor = { accessKey: s3.accessKey2, secretKey: s3.secretKey2 };
// Roles are the server's, not a bucket's: named for this checkout too (their policies name its bucket).
const RUN_ROLE = `ferry-e2e-run-${CHECKOUT}`;
const EXT_ROLE_NAME = `ferry-e2e-ext-${CHECKOUT}`;
const ROLE = `arn:aws:iam:::role/${RUN_ROLE}`;
const EXT_ROLE = `arn:aws:iam:::role/${EXT_ROLE_NAME}`;
const PROCESS = join(ROOT, 'test/helpers/sts.mjs');
const USER = 'sts-user';
const PASSWORD = 'sts pw:1';
let squid: Squid;

async function role(name: string, trust: object): Promise<void> {
  const keys = { accessKey: s3.accessKey, secretKey: s3.secretKey };
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [trust] });
  try {
    await call(s3.endpoint, keys, 'iam', { Action: 'CreateRole', RoleName: name, AssumeRolePolicyDocument: doc });
  } catch (err) {
    if (!/EntityAlreadyExists/.test((err as Error).message)) throw err;
  }
  const resource = [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`];
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: resource }] };
  await call(s3.endpoint, keys, 'iam', {
    Action: 'PutRolePolicy',
    RoleName: name,
    PolicyName: 'ferry-e2e',
    PolicyDocument: JSON.stringify(policy),
  });
}

const trust = (condition?: object) => ({
  Effect: 'Allow',
  Principal: { AWS: ['arn:aws:iam:::user/ferry2'] },
  Action: ['sts:AssumeRole'],
  ...(condition ? { Condition: condition } : {}),
});

/** One row, input and output in the STS bucket, with `config` as --aws-config. */
function row(out: string, config: string, opts: { args?: string[]; env?: Record<string, string>; solver?: string }) {
  const dir = tempDir('sts');
  writeFileSync(join(dir, 'config'), config);
  const args = ['run', '--aws-config', 'config', ...(opts.args ?? [])];
  args.push('--input', `s3://${BUCKET}/in/pintle.zip`, '--output', `s3://${BUCKET}/${out}/`, '--no-mpi');
  args.push('--', 'sh', '-c', opts.solver ?? 'cat inputs.in > result.txt');
  const env = cleanEnv({
    FERRY_TEST_STS_KEY: visitor.accessKey,
    FERRY_TEST_STS_SECRET: visitor.secretKey,
    ...opts.env,
  });
  return { dir, result: ferry(args, { cwd: dir, env }) };
}

const roleProfile = (extra = '') =>
  `[profile cfd]\nrole_arn = ${ROLE}\nsource_profile = visitor\nregion = us-east-1\n${extra}` +
  `[visitor]\naws_access_key_id = ${visitor.accessKey}\naws_secret_access_key = ${visitor.secretKey}\n`;

const processProfile = (seconds: number, calls: string) =>
  `[default]\nregion = us-east-1\nendpoint_url = ${s3.endpoint}\n` +
  `credential_process = ${process.execPath} ${PROCESS} assume ${s3.endpoint} ${ROLE} ${seconds} ${calls}\n`;

/** What the credential_process printed, one entry per call (test/helpers/sts.mjs keeps them). */
const issued = (file: string): Array<Record<string, string>> =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
    : [];
const calls = (file: string) => issued(file).length;

describe.runIf(s3.kind === 'ceph')('AWS identities on Ceph RGW with STS', { tags: ['ceph'] }, () => {
  beforeAll(async () => {
    await role(RUN_ROLE, trust());
    await role(EXT_ROLE_NAME, trust({ StringEquals: { 'sts:ExternalId': 'ferry-ext-id' } }));
    await ensureBucket(admin, BUCKET);
    await emptyPrefix(admin, BUCKET, '');
    await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
    squid = await startSquidWith({ scheme: 'basic', user: USER, password: PASSWORD });
  });
  afterAll(async () => {
    await squid?.stop();
    admin.destroy();
  });

  async function complete(out: string) {
    const keys = await listAll(admin, BUCKET, `${out}/`);
    expect([...keys.keys()]).toEqual(expect.arrayContaining([`${out}/result.txt`, `${out}/_SUCCESS`]));
  }

  it('role_arn + source_profile: the row completes, STS asked at the S3 endpoint (--endpoint)', async () => {
    // --endpoint is a front of ours before Ceph: the STS call is seen there, as a request.
    const front = await startRecorder(s3.endpoint);
    const args = ['--profile', 'cfd', '--endpoint', front.url];
    const r = await row('assumed', roleProfile(), { args }).result.finally(() => front.close());
    expect(r.exitCode, r.all).toBe(0);
    await complete('assumed');
    const sts = front.requests.filter((q) => q.method === 'POST' && q.path === '/');
    expect(sts.map((q) => [q.status, /Action=AssumeRole&/.test(q.form ?? '')])).toEqual([[200, true]]);
    expect(sts[0].form).toContain(`RoleArn=${encodeURIComponent(ROLE)}`);
    // before any request with the session's keys
    expect(front.requests.indexOf(sts[0])).toBe(0);
  });

  it('the same through squid asking for a password: AssumeRole goes through it with the account', async () => {
    const before = squid.accessLog().length;
    const { dir, result } = row('assumed-squid', roleProfile(`endpoint_url = ${s3.endpoint}\n`), {
      args: ['--profile', 'cfd', '--proxy', `http://127.0.0.1:${squid.port}`, '--proxy-auth-file', 'proxy-auth'],
    });
    writeFileSync(join(dir, 'proxy-auth'), `${USER}:${PASSWORD}\n`, { mode: 0o600 });
    const r = await result;
    expect(r.exitCode, r.all).toBe(0);
    await complete('assumed-squid');
    const log = (await squid.linesSince(before)).join('\n');
    expect(log).toMatch(new RegExp(`POST ${s3.endpoint.replace(/\./g, '\\.')}/ ${USER} `));
    expect(log).toMatch(
      new RegExp(`PUT ${s3.endpoint.replace(/\./g, '\\.')}/${BUCKET}/assumed-squid/result\\.txt\\?? ${USER} `),
    );
  });

  it('credential_process: the row completes with the keys it prints, none of them in the output', async () => {
    const file = join(tempDir('calls'), 'calls');
    // The solver prints what the process printed (a careless debug dump): ferry must mask it as it relays.
    const { dir, result } = row('process', processProfile(900, file), {
      solver: `cat ${file}; cat inputs.in > result.txt`,
    });
    const r = await result;
    expect(r.exitCode, r.all).toBe(0);
    await complete('process');
    const printed = issued(file);
    expect(printed).toHaveLength(1);
    const { AccessKeyId, SecretAccessKey, SessionToken } = printed[0];
    expect([AccessKeyId, SecretAccessKey, SessionToken].every((v) => typeof v === 'string' && v.length > 8)).toBe(true);
    expect(r.stdout).toContain('"SecretAccessKey":"***"');
    for (const [what, text] of [
      ['output', r.all],
      ['ferry.log', readFileSync(join(dir, 'ferry.log'), 'utf8')],
    ]) {
      for (const v of [AccessKeyId, SecretAccessKey, SessionToken])
        expect(text.includes(v), `${what} holds one`).toBe(false);
    }
  });

  it('credential_process whose credentials expire while the solver runs: asked again, uploads succeed', async () => {
    const file = join(tempDir('calls'), 'calls');
    // A 2 s session (Ceph's minimum is 1 s). The solver notes how often the process was called when it
    // started, waits until the session it was started with has expired, then writes its output.
    const expired = `until [ "$(date +%s)" -gt "$(cat ${file}.expires)" ]; do sleep 0.1; done`;
    const solver = `wc -l < ${file} > ${file}.at-start; ${expired}; cat inputs.in > result.txt`;
    const { result } = row('process-expiring', processProfile(2, file), { solver });
    const r = await result;
    expect(r.exitCode, r.all).toBe(0);
    await complete('process-expiring');
    const atStart = Number(readFileSync(`${file}.at-start`, 'utf8').trim());
    expect(atStart).toBeGreaterThanOrEqual(1);
    expect(calls(file)).toBeGreaterThan(atStart);
  });

  it('a role whose trust policy wants another external id: 77 naming the role', async () => {
    const config = roleProfile(`external_id = not-the-id\nendpoint_url = ${s3.endpoint}\n`).replace(ROLE, EXT_ROLE);
    const r = await row('ext', config, { args: ['--profile', 'cfd'] }).result;
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain(`assuming role ${EXT_ROLE}`);
    expect(r.stderr).toContain('external_id');
  });

  it('static keys whose session token expired: 77 naming the profile and the expiry', async () => {
    const s = await assumeRole(s3.endpoint, visitor, ROLE, 1);
    const config =
      `[default]\naws_access_key_id = ${s.AccessKeyId}\naws_secret_access_key = ${s.SecretAccessKey}\n` +
      `aws_session_token = ${s.SessionToken}\naws_credential_expiration = ${s.Expiration}\n` +
      `region = us-east-1\nendpoint_url = ${s3.endpoint}\n`;
    while (Date.now() <= Date.parse(s.Expiration)) await new Promise((res) => setTimeout(res, 200));
    const r = await row('expired', config, {}).result;
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toMatch(/the session token of profile 'default' in \S+\/config expired at/);
    expect(r.stderr).toContain(`config expired at ${new Date(s.Expiration).toISOString()}`);
    expect(r.all).not.toContain(s.SessionToken);
  });
});

describe('a request refused with ExpiredToken', () => {
  const dir = tempDir('expired-put');
  beforeAll(async () => {
    mkdirSync(join(dir, 'up'));
    writeFileSync(join(dir, 'up/a.txt'), 'a');
    await ensureBucket(admin, BUCKET);
  });

  it.runIf(s3.kind === 'ceph')('is sent again once with renewed credentials', { tags: ['ceph'] }, async () => {
    const proxy = await startFaultProxy(s3.endpoint, (n) => (n === 0 ? 'expired' : 'pass'));
    const file = join(tempDir('calls'), 'calls');
    writeFileSync(join(dir, 'config'), processProfile(900, file).replace(`endpoint_url = ${s3.endpoint}`, ''));
    const env = cleanEnv({ FERRY_TEST_STS_KEY: visitor.accessKey, FERRY_TEST_STS_SECRET: visitor.secretKey });
    const args = ['put', '--aws-config', 'config', '--endpoint', proxy.url, 'up', `s3://${BUCKET}/renewed/`];
    const r = await ferry(args, { cwd: dir, env });
    await proxy.close();
    expect(r.exitCode, r.all).toBe(0);
    expect(proxy.counts.expired).toBe(1);
    expect(r.all).toContain('renewing them, retrying once');
    expect(calls(file)).toBe(2);
  });

  it('with static keys: 77, nothing can renew them', async () => {
    const proxy = await startFaultProxy(s3.endpoint, (n) => (n === 0 ? 'expired' : 'pass'));
    writeFileSync(
      join(dir, 'static'),
      `[default]\naws_access_key_id = ${s3.accessKey}\naws_secret_access_key = ${s3.secretKey}\n` +
        'aws_session_token = tok-123\n',
    );
    const args = ['put', '--aws-config', 'static', '--endpoint', proxy.url, 'up', `s3://${BUCKET}/not-renewed/`];
    const r = await ferry(args, { cwd: dir });
    await proxy.close();
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('static has expired (no expiry was given with it): the server answered ExpiredToken');
  });
});

describe('a node whose clock is 20 minutes slow (libfaketime)', () => {
  it('the server refuses the time, ferry says by how much, corrects it and the upload succeeds', async () => {
    const dir = tempDir('skew');
    mkdirSync(join(dir, 'up'));
    writeFileSync(join(dir, 'up/a.txt'), 'skewed');
    writeAwsConfig(dir, s3);
    await ensureBucket(admin, BUCKET);
    const args = ['-f', '-20m', FERRY, 'put', '--aws-config', 'config', 'up', `s3://${BUCKET}/skewed/`];
    const r = await ferry(args, { cwd: dir, bin: 'faketime' });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(/this node's clock is 1[12]\d\d s behind the server's/);
    expect(r.stderr.match(/clock is/g)).toHaveLength(1);
    expect([...(await listAll(admin, BUCKET, 'skewed/')).keys()]).toEqual(['skewed/a.txt']);
  });
});

describe('web_identity_token_file (a stand-in STS: Ceph 16 has no OIDC provider here)', () => {
  it('the token file is read and sent with AssumeRoleWithWebIdentity; the row completes with the keys', async () => {
    const sts = await startFakeSts(s3);
    const dir = tempDir('web-identity');
    writeFileSync(join(dir, 'token'), 'eyJ.web-identity-token.sig');
    writeFileSync(
      join(dir, 'config'),
      `[default]\nrole_arn = arn:aws:iam::123456789012:role/cfd\nweb_identity_token_file = ${join(dir, 'token')}\n` +
        `region = us-east-1\nendpoint_url = ${s3.endpoint}\n`,
    );
    mkdirSync(join(dir, 'up'));
    writeFileSync(join(dir, 'up/a.txt'), 'w');
    await ensureBucket(admin, BUCKET);
    const args = ['put', '--aws-config', 'config', 'up', `s3://${BUCKET}/web-identity/`];
    const r = await ferry(args, { cwd: dir, env: cleanEnv({ AWS_ENDPOINT_URL_STS: sts.url }) });
    await sts.close();
    expect(r.exitCode, r.all).toBe(0);
    const body = sts.requests.map((q) => q.body).join('\n');
    expect(body).toContain('Action=AssumeRoleWithWebIdentity');
    expect(body).toContain('WebIdentityToken=eyJ.web-identity-token.sig');
    expect([...(await listAll(admin, BUCKET, 'web-identity/')).keys()]).toEqual(['web-identity/a.txt']);
  });
});
