import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { Ledger, secretsIn } from '../helpers/ledger.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';

// What stays in the solver's environment, and what never goes up: a proxy account in HTTPS_PROXY /
// HTTP_PROXY reaches the solver without its password; credential tokens and their files not at all;
// with --upload-all the credentials named on the command line stay home wherever they sit.
const BUCKET = 'ferry-i21-env';
const s3 = inject('s3');
const admin = adminClient(s3);
const USER = 'cfd-user';
const PASSWORD = 'Pr0xy-Pa55 w:rd';
const TOKENS = {
  AWS_CONTAINER_AUTHORIZATION_TOKEN: 'container-token-DO-NOT-LEAK',
  IDENTITY_HEADER: 'identity-header-DO-NOT-LEAK',
  AZURE_CLIENT_SECRET: 'azure-client-secret-DO-NOT-LEAK',
  AZURE_CLIENT_CERTIFICATE_PASSWORD: 'cert-password-DO-NOT-LEAK',
};
const DUMP = [
  'sh',
  '-c',
  'env | sort > env.txt; cat "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" > token-copy.txt 2>&1; true',
];
let squid: Squid;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await new Ledger(tempDir('env-in')).put(admin, BUCKET, 'in/params.txt', 'p=1\n');
  squid = await startSquidWith({ scheme: 'basic', user: USER, password: PASSWORD });
});
afterAll(async () => {
  await squid?.stop();
  admin.destroy();
});

/** The environment of a node behind an authenticating proxy that also holds credential tokens. */
function nodeEnv(tokenFile: string): Record<string, string> {
  const proxy = squid.url(USER, PASSWORD);
  return { HTTPS_PROXY: proxy, http_proxy: proxy, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile, ...TOKENS };
}

describe("the solver's environment", () => {
  it('the proxy without its account, no credential token or token file; the run goes through the proxy', async () => {
    const tokenFile = join(tempDir('env-token'), 'token');
    writeFileSync(tokenFile, 'token-file-content-DO-NOT-LEAK\n');
    const { dir, run } = runRow(s3, {
      bucket: BUCKET,
      out: 'env',
      inputs: [`s3://${BUCKET}/in/params.txt`],
      solver: DUMP,
      env: nodeEnv(tokenFile),
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const env = (await getBytes(admin, BUCKET, 'env/env.txt')).toString();
    expect(env).toContain(`HTTPS_PROXY=${squid.address}\n`);
    expect(env).toContain(`http_proxy=${squid.address}\n`);
    for (const k of [...Object.keys(TOKENS), 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_SECRET_ACCESS_KEY'])
      expect(env, k).not.toContain(`${k}=`);
    expect(squid.accessLog(), 'ferry itself used the proxy with the account').toContain(USER);
    const secrets = [
      PASSWORD,
      encodeURIComponent(PASSWORD),
      s3.secretKey,
      'token-file-content',
      ...Object.values(TOKENS),
    ];
    expect(await secretsIn(admin, BUCKET, 'env/', secrets)).toEqual([]);
    const ledger = new Ledger(dir);
    ledger.secrets.push(...secrets);
    expect(await ledger.lost(admin, BUCKET, 'env/')).toEqual([]);
    const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
    for (const s of secrets) expect(log, s).not.toContain(s);
  });

  it('--solver-env-credentials: everything as given (the user asked)', async () => {
    const tokenFile = join(tempDir('env-token'), 'token');
    writeFileSync(tokenFile, 'token\n');
    const { run } = runRow(s3, {
      bucket: BUCKET,
      out: 'env-kept',
      inputs: [`s3://${BUCKET}/in/params.txt`],
      solver: DUMP,
      extra: ['--solver-env-credentials'],
      env: nodeEnv(tokenFile),
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const env = (await getBytes(admin, BUCKET, 'env-kept/env.txt')).toString();
    expect(env).toContain(`HTTPS_PROXY=${squid.url(USER, PASSWORD)}\n`);
    expect(env).toContain(`IDENTITY_HEADER=${TOKENS.IDENTITY_HEADER}\n`);
    // (no ledger's secret check here: the solver was given the keys and wrote them into an output, as asked)
  });
});

describe('--upload-all with the credentials in a subfolder', () => {
  it('--aws-config job/config and --proxy-auth-file job/pauth: never uploaded, kept; no secret in S3', async () => {
    const dir = tempDir('upload-all');
    const ledger = new Ledger(dir);
    mkdirSync(join(dir, 'job'));
    writeAwsConfig(join(dir, 'job'), s3);
    ledger.record('job/config', readFileSync(join(dir, 'job/config')));
    ledger.write('job/pauth', `${USER}:${PASSWORD}\n`);
    ledger.write('notes.txt', 'uploaded too: --upload-all mirrors the run dir\n');
    const { run } = runRow(s3, {
      dir,
      bucket: BUCKET,
      out: 'upload-all',
      inputs: [`s3://${BUCKET}/in/params.txt`],
      solver: ['sh', '-c', 'echo r > result.txt'],
      ownConfig: true,
      extra: ['--upload-all', '--aws-config', 'job/config', '--proxy', squid.address, '--proxy-auth-file', 'job/pauth'],
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const keys = [...(await listAll(admin, BUCKET, 'upload-all/')).keys()].sort();
    expect(keys).toEqual(
      ['_SUCCESS', '_ferry.log', '_manifest.json', 'notes.txt', 'params.txt', 'result.txt'].map(
        (k) => `upload-all/${k}`,
      ),
    );
    ledger.secrets.push(PASSWORD);
    expect(await ledger.lost(admin, BUCKET, 'upload-all/')).toEqual([]);
    expect(readFileSync(join(dir, 'job/pauth'), 'utf8')).toContain(PASSWORD); // kept where it was
  });
});
