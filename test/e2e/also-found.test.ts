import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// What a careless or unlucky user runs into besides lost files: odd names, odd solvers, hostile
// entries, leaked secrets, unclear messages.
const BUCKET = 'ferry-found';
const s3 = inject('s3');
const admin = adminClient(s3);
const manifest = async (prefix: string) =>
  JSON.parse((await getBytes(admin, BUCKET, `${prefix}_manifest.json`)).toString());

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

function row(name: string, solver: string[], extra: string[] = [], env: Record<string, string> = {}) {
  const dir = tempDir(name);
  writeAwsConfig(dir, s3);
  const run = ferry(
    [
      'run',
      '--aws-config',
      'config',
      ...extra,
      '--input',
      `s3://${BUCKET}/in/params.txt`,
      '--output',
      `s3://${BUCKET}/${name}/`,
      '--no-mpi',
      '--',
      ...solver,
    ],
    { cwd: dir, env: cleanEnv(env) },
  );
  return { dir, run };
}

describe('outputs and solvers that misbehave', () => {
  it(
    'a file whose name is not valid UTF-8: everything else is uploaded, it stays and is named in the manifest, exit ' +
      '73',
    async () => {
      const { dir, run } = row('badname', ['sh', '-c', 'printf x > "$(printf "bad\\377name")"; echo good > good.txt']);
      const r = await run;
      expect(r.exitCode, r.all).toBe(73);
      expect((await getBytes(admin, BUCKET, 'badname/good.txt')).toString()).toBe('good\n');
      const m = await manifest('badname/');
      expect(m.status).toBe('incomplete');
      expect(m.not_uploaded).toEqual([{ path: 'bad\\xffname', error: expect.stringContaining('not valid UTF-8') }]);
      expect(readdirSync(dir, { encoding: 'buffer' }).some((n) => n.equals(Buffer.from('bad\xffname', 'latin1')))).toBe(
        true,
      );
    },
  );

  it(
    '--log-format json: a 200,000-character line comes in pieces of at most 64 KiB, marked; a UTF-8 character split ' +
      'across two reads stays whole',
    async () => {
      const py =
        "import sys,time\nsys.stdout.write('A'*200000+'\\n'); sys.stdout.flush()\n" +
        "sys.stdout.buffer.write(b'caf\\xc3'); sys.stdout.flush(); time.sleep(0.3)\n" +
        "sys.stdout.buffer.write(b'\\xa9\\n'); sys.stdout.flush()";
      const { dir, run } = row('lines', ['python3', '-c', py], ['--log-format', 'json', '--keep']);
      const r = await run;
      expect(r.exitCode, r.all).toBe(0);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.level === 'solver');
      const pieces = events.filter((e) => e.line.startsWith('A'));
      expect(pieces.length).toBe(4);
      expect(pieces.map((e) => e.continued === true)).toEqual([false, true, true, true]);
      expect(pieces.every((e) => e.line.length <= 64 * 1024)).toBe(true);
      expect(pieces.map((e) => e.line).join('')).toBe('A'.repeat(200000));
      expect(events.map((e) => e.line)).toContain('café');
      const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
      expect(log).toContain(`${'A'.repeat(200000)}\ncafé\n`);
    },
  );

  it('a solver whose #! interpreter does not exist: a clear message and exit 126', async () => {
    const dir = tempDir('interp');
    writeAwsConfig(dir, s3);
    writeFileSync(join(dir, 'run.sh'), '#!/nonexistent/interpreter\necho never\n');
    chmodSync(join(dir, 'run.sh'), 0o755);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/interp/`,
        '--no-mpi',
        '--',
        './run.sh',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(126);
    expect(r.stderr).toContain(
      './run.sh could not be started (ENOENT): the program or the interpreter on its #! line does not exist',
    );
    const m = await manifest('interp/');
    expect(m).toMatchObject({
      status: 'solver-failed',
      solver: { exit_code: null, start_error: expect.stringContaining('#!') },
    });
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'run.sh']);
  });

  it(
    "an input zip with ferry.log and .ferry-state.json entries: skipped with a warning, the run's own log " + 'intact',
    async () => {
      const zdir = tempDir('zipsrc');
      writeFileSync(join(zdir, 'ferry.log'), 'HIJACKED LOG\n');
      writeFileSync(join(zdir, '.ferry-state.json'), '{"version":2,"runId":"evil","preExisting":{}}');
      writeFileSync(join(zdir, 'data.txt'), 'case data\n');
      execFileSync('zip', ['-q', join(zdir, 'own.zip'), 'ferry.log', '.ferry-state.json', 'data.txt'], { cwd: zdir });
      await putBytes(admin, BUCKET, 'in/own.zip', readFileSync(join(zdir, 'own.zip')));
      const dir = tempDir('ownzip');
      writeAwsConfig(dir, s3);
      const r = await ferry(
        [
          'run',
          '--aws-config',
          'config',
          '--input',
          `s3://${BUCKET}/in/own.zip`,
          '--output',
          `s3://${BUCKET}/ownzip/`,
          '--no-mpi',
          '--',
          'sh',
          '-c',
          'cat data.txt > out.txt',
        ],
        { cwd: dir, env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain("not extracting 'ferry.log'");
      expect(r.stderr).toContain("not extracting '.ferry-state.json'");
      const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
      expect(log).toMatch(/^ferry: ferry /);
      expect(log).not.toContain('HIJACKED');
      expect((await manifest('ownzip/')).run_id).not.toBe('evil');
      expect([...(await listAll(admin, BUCKET, 'ownzip/')).keys()].sort()).toEqual([
        'ownzip/_SUCCESS',
        'ownzip/_ferry.log',
        'ownzip/_manifest.json',
        'ownzip/out.txt',
      ]);
    },
  );
});

describe('secrets', () => {
  const PROXY_PW = 'Pr0xy-Pa55word';
  const env = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_ENDPOINT_URL: s3.endpoint,
    HTTPS_PROXY: `http://u:${PROXY_PW}@127.0.0.1:9`,
  });
  const dump = [
    'sh',
    '-c',
    'env > env.txt; echo "key=[$AWS_SECRET_ACCESS_KEY]"; echo "proxy=$HTTPS_PROXY"; cat notes.txt',
  ];

  function secretRow(name: string, extra: string[]) {
    const dir = tempDir(name);
    writeFileSync(join(dir, 'notes.txt'), `the key is ${s3.secretKey}\n`); // a file the solver prints
    const run = ferry(
      [
        'run',
        ...extra,
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/${name}/`,
        '--no-mpi',
        '--',
        ...dump,
      ],
      { cwd: dir, env: cleanEnv(env()) },
    );
    return { dir, run };
  }

  it('the solver gets no AWS credentials; every secret ferry knows is masked in its output and ferry.log', async () => {
    const { dir, run } = secretRow('secrets', ['--keep']);
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const envTxt = (await getBytes(admin, BUCKET, 'secrets/env.txt')).toString();
    expect(envTxt).not.toContain('AWS_SECRET_ACCESS_KEY');
    expect(envTxt).not.toContain('AWS_ACCESS_KEY_ID');
    expect(envTxt).not.toContain(s3.secretKey);
    expect(r.stdout).toContain('key=[]');
    expect(r.stdout).toContain('proxy=http://127.0.0.1:9'); // the proxy reaches the solver without its account
    expect(r.stdout).toContain('the key is ***');
    for (const text of [r.all, readFileSync(join(dir, 'ferry.log'), 'utf8')]) {
      expect(text).not.toContain(s3.secretKey);
      expect(text).not.toContain(PROXY_PW);
    }
  });

  it('--solver-env-credentials passes them on (the user asked), still masked in what ferry relays', async () => {
    const { run } = secretRow('secrets-kept', ['--solver-env-credentials']);
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, 'secrets-kept/env.txt')).toString()).toContain(
      `AWS_SECRET_ACCESS_KEY=${s3.secretKey}`,
    );
    expect(r.stdout).toContain('key=[***]');
    expect(r.all).not.toContain(s3.secretKey);
  });
});

describe('messages and codes', () => {
  it('output bucket missing: exit 66 naming it, before anything is downloaded', async () => {
    const dir = tempDir('nobucket');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        's3://ferry-no-such-bucket/out/',
        '--no-mpi',
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain('the bucket does not exist');
    expect(r.stderr).toContain('s3://ferry-no-such-bucket/out/');
    expect(existsSync(join(dir, 'params.txt'))).toBe(false);
  });

  it('a wrong secret key on a HEAD (no error code in the answer): exit 77 naming both likely causes', async () => {
    const cfg = writeAwsConfig(tempDir('badkey'), s3, {
      accessKey: s3.accessKey,
      secretKey: 'wrong-secret-DO-NOT-PRINT',
    });
    const r = await ferry(['get', '--aws-config', cfg, `s3://${BUCKET}/in/params.txt`, tempDir('badkey-out')], {
      env: cleanEnv(),
    });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toContain('no error code in the answer');
    expect(r.stderr).toContain('the secret key is wrong');
    expect(r.stderr).toContain('may not read this key');
    expect(r.all).not.toContain('wrong-secret-DO-NOT-PRINT');
  });

  it.each([
    [['--part-size', '6GiB'], 'from 5MiB to 5GiB'],
    [['--np', '99999999999999999999'], '--np must be a whole number from 1 to 1000000'],
    [['--np', '2.5'], '--np must be a whole number'],
    [['--retries', '1e9'], '--retries must be a whole number'],
  ])('%j: exit 64', async (flags, says) => {
    const dir = tempDir('flags');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        ...flags,
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/flags/`,
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(says);
  });

  const denied =
    'the manifest cannot be written (a bucket policy denies it): the message says what failed and why, nothing is ' +
    'deleted';
  it.runIf(s3.kind === 'ceph')(denied, { tags: ['ceph'] }, async () => {
    const bucket = 'ferry-found-deny';
    await ensureBucket(admin, bucket);
    await emptyPrefix(admin, bucket, '');
    await putBytes(admin, bucket, 'in/params.txt', 'p=1\n');
    const user2 = 'arn:aws:iam:::user/ferry2';
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: [user2] },
          Action: ['s3:*'],
          Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        },
        {
          Effect: 'Deny',
          Principal: { AWS: [user2] },
          Action: ['s3:PutObject'],
          Resource: [`arn:aws:s3:::${bucket}/out/_manifest.json`],
        },
      ],
    };
    await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    const dir = tempDir('nomanifest');
    writeAwsConfig(dir, s3, { accessKey: s3.accessKey2, secretKey: s3.secretKey2 });
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${bucket}/in/params.txt`,
        '--output',
        `s3://${bucket}/out/`,
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'echo r > result.txt',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(73);
    expect(r.stderr).toContain(
      `writing the manifest failed: access denied (AccessDenied) (s3://${bucket}/out/_manifest.json)`,
    );
    expect(r.stderr).toContain('hint:');
    expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'config', 'ferry.log', 'params.txt', 'result.txt']);
    expect((await listAll(admin, bucket, 'out/')).has('out/_SUCCESS')).toBe(false);
  });
});
