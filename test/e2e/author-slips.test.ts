// The job author's slips (wrong flags, URIs, put targets, keys): each answered with what to do.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const BUCKET = 'ferry-author-slips';
const s3 = inject('s3');
const admin = adminClient(s3);
const env = cleanEnv();
let config: string;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  config = writeAwsConfig(tempDir('slips-cfg'), s3);
});
afterAll(() => admin.destroy());

describe('help that guides', () => {
  it.each([
    [['run', '--ouput', 's3://b/o/', '--', 'true'], "unknown option '--ouput'", 'did you mean --output?'],
    [['doe', 'init', '--input', 's3://b/in/'], "unknown option '--input'", 'did you mean --inputs?'],
    [['statsu'], "unknown command 'statsu'", 'did you mean ferry doe status?'],
    [['doe', 'statsu'], "unknown command 'doe statsu'", 'did you mean ferry doe status?'],
    [['run', '--np', 'four', '--', 'true'], "--np must be a whole number from 1 to 1000000, got 'four'", ''],
  ])('ferry %j: 64, "%s", "%s"', async (args, says, hint) => {
    const r = await ferry(args, { env });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(says);
    expect(r.stderr).toContain(hint);
    expect(r.stderr).not.toContain('no input given'); // a bad flag is reported first
  });

  it('the command list names every command; ferry help run and each doe command have help of their own', async () => {
    const main = await ferry(['--help'], { env });
    for (const c of ['run', 'get', 'put', 'verify', 'check', 'policy', 'doe init', 'doe rehearse', 'doe status'])
      expect(main.stdout).toContain(`ferry ${c} `);
    const run = await ferry(['help', 'run'], { env });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Usage: ferry run /);
    expect(run.stdout).toContain('--settle SECONDS');
    const init = await ferry(['doe', 'init', '--help'], { env });
    const rehearse = await ferry(['doe', 'rehearse', '--help'], { env });
    expect(init.stdout).toMatch(/^Usage: ferry doe init /);
    expect(init.stdout).toContain('--inputs URI');
    expect(rehearse.stdout).toMatch(/^Usage: ferry doe rehearse /);
    expect(rehearse.stdout).toContain('--slots N');
    expect(init.stdout).not.toContain('--slots');
  });
});

describe('URI slips', () => {
  it('doe init --inputs without the trailing slash: the hint of ferry get, no inputs.csv', async () => {
    await putBytes(admin, BUCKET, 'input/a.zip', 'PK');
    await putBytes(admin, BUCKET, 'input/b.zip', 'PK');
    const dir = tempDir('init-slash');
    const args = ['doe', 'init', '--aws-config', config, '--dir', dir, '--output', `s3://${BUCKET}/output/`];
    const r = await ferry([...args, '--inputs', `s3://${BUCKET}/input`], { env });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain("2 objects start with 'input/': add a trailing /");
    expect(existsSync(join(dir, 'inputs.csv'))).toBe(false);
    const ok = await ferry([...args, '--inputs', `s3://${BUCKET}/input/`], { env });
    expect(ok.exitCode, ok.all).toBe(0);
    expect(readFileSync(join(dir, 'inputs.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('an S3 https URL (virtual-hosted) reads as s3://BUCKET/KEY', async () => {
    await putBytes(admin, BUCKET, 'https/params.txt', 'from the console URL\n');
    const dir = tempDir('https-url');
    const url = `https://${BUCKET}.s3.us-east-1.amazonaws.com/https/params.txt`;
    const r = await ferry(['get', '--aws-config', config, url, dir], { env });
    expect(r.exitCode, r.all).toBe(0);
    expect(readFileSync(join(dir, 'params.txt'), 'utf8')).toBe('from the console URL\n');
  });

  it('the https URL of another server: the s3:// form and --endpoint in the hint', async () => {
    const r = await ferry(['get', `${s3.endpoint}/${BUCKET}/in/k.zip`, tempDir('https-other')], { env });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(`write s3://${BUCKET}/in/k.zip and pass the server with --endpoint ${s3.endpoint}`);
  });
});

describe('ferry put as aws s3 cp', () => {
  it('put FILE PREFIX/ keeps the name, put FILE KEY names it; a _SUCCESS where it lands is withdrawn', async () => {
    const dir = tempDir('put-file');
    writeFileSync(join(dir, 'case.zip'), 'zip bytes');
    await putBytes(admin, BUCKET, 'inputs/_SUCCESS', '');
    const a = await ferry(['put', '--aws-config', config, join(dir, 'case.zip'), `s3://${BUCKET}/inputs/`], { env });
    expect(a.exitCode, a.all).toBe(0);
    const b = await ferry(['put', '--aws-config', config, join(dir, 'case.zip'), `s3://${BUCKET}/inputs/b.zip`], {
      env,
    });
    expect(b.exitCode, b.all).toBe(0);
    const keys = [...(await listAll(admin, BUCKET, 'inputs/')).keys()].sort();
    expect(keys).toEqual(['inputs/b.zip', 'inputs/case.zip']);
    for (const k of keys) expect((await getBytes(admin, BUCKET, k)).toString()).toBe('zip bytes');
  });

  it('put DIR KEY.zip: refused (64) with the two ways out, nothing written', async () => {
    const dir = tempDir('put-dir');
    mkdirSync(join(dir, 'case'));
    writeFileSync(join(dir, 'case', 'mesh.dat'), 'mesh');
    const r = await ferry(['put', '--aws-config', config, join(dir, 'case'), `s3://${BUCKET}/zips/case.zip`], { env });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('names a zip, and');
    expect(r.stderr).toContain('zip the folder first');
    expect(r.stderr).toContain('end the URI with /');
    expect((await listAll(admin, BUCKET, 'zips/')).size).toBe(0);
  });
});

describe('a wrong secret key', () => {
  it('ferry run names the keys as well as the policy (77), and never prints the secret', async () => {
    const dir = tempDir('run-badkey');
    writeAwsConfig(dir, s3, { accessKey: s3.accessKey, secretKey: 'wrong-secret-DO-NOT-PRINT' });
    await putBytes(admin, BUCKET, 'bad/in.txt', 'x');
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/bad/in.txt`,
        '--output',
        `s3://${BUCKET}/bad/out/`,
        '--no-mpi',
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toMatch(/secret key is wrong|aws_secret_access_key/);
    expect(r.all).not.toContain('wrong-secret-DO-NOT-PRINT');
  });
});
