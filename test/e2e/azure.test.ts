import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { adminContainer, azureConfigText, freshContainer, getBlob, listBlobs, putBlob } from '../helpers/azure.ts';
import { cleanEnv, ferry, installFerry, startFerry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, putBytes } from '../helpers/s3.ts';
import { waitFor } from '../helpers/net.ts';
import { expectedOutputs } from '../helpers/solver.ts';

// The Azure pass: the same row as on S3 — input in, solver under mpirun, outputs out, verified,
// manifest, _SUCCESS, then the wipe — against Azurite, with the credentials in an --azure-config
// file uploaded with the job (or a SAS on the URI).
const az = inject('azure');
const s3 = inject('s3');
const CONTAINER = 'ferry-azure';
const ACCT = az.account;
const uri = (path: string) => `az://${ACCT}/${CONTAINER}/${path}`;
const c = adminContainer(az, CONTAINER);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  await freshContainer(az, CONTAINER);
  await putBlob(c, 'in/hsdi.zip', readFileSync(zipCase('hsdi', tempDir('zips'))));
  await putBlob(c, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
  await putBlob(c, 'in/params.txt', 'p=1\n');
  await putBlob(c, 'in/other.txt', 'p=2\n');
});

/** A run directory as the platform stages it: ferry and the Azure credentials file. */
function runDir(name: string, config = azureConfigText(az)): { dir: string; bin: string } {
  const dir = tempDir(name);
  writeFileSync(join(dir, 'azure'), config);
  return { dir, bin: installFerry(dir) };
}

const runArgs = (input: string, output: string, solver: string[], extra: string[] = []) => [
  'run',
  '--azure-config',
  'azure',
  ...extra,
  '--input',
  input,
  '--output',
  output,
  '--',
  ...solver,
];

describe('ferry run --azure-config azure -- converge super (a whole row on Azure Blob)', () => {
  let dir: string;
  let r: Awaited<ReturnType<typeof ferry>>;
  beforeAll(async () => {
    ({ dir } = runDir('az-row'));
    const env = cleanEnv({ PATH: `${inject('solverDir')}:${process.env.PATH}`, RESCALE_CORES_PER_SLOT: '8' });
    const args = runArgs(uri('in/hsdi.zip'), uri('out/hsdi/'), ['converge', 'super'], ['--part-size', '5MiB']);
    r = await ferry(args, { cwd: dir, env, bin: './ferry' });
  });

  it('exits 0 and uploads exactly the solver outputs, byte for byte (a 12 MiB one in blocks)', async () => {
    expect(r.exitCode, r.all).toBe(0);
    const want = expectedOutputs('hsdi', 8, 6, 12288);
    const blobs = await listBlobs(c, 'out/hsdi/');
    expect([...blobs.keys()].sort()).toEqual(
      [
        ...[...want.keys()].map((k) => `out/hsdi/${k}`),
        'out/hsdi/_SUCCESS',
        'out/hsdi/_ferry.log',
        'out/hsdi/_manifest.json',
      ].sort(),
    );
    for (const [k, bytes] of want) expect((await getBlob(c, `out/hsdi/${k}`)).equals(bytes), k).toBe(true);
  });

  it('sets the Content-MD5 of every blob (the one verified), and the manifest matches the blobs', async () => {
    const m = JSON.parse((await getBlob(c, 'out/hsdi/_manifest.json')).toString());
    expect(m.status).toBe('complete');
    expect(m.inputs[0].uri).toBe(uri('in/hsdi.zip'));
    const want = expectedOutputs('hsdi', 8, 6, 12288);
    expect(m.outputs.map((o: { path: string }) => o.path)).toEqual([...want.keys()].sort());
    for (const o of m.outputs) {
      const body = await getBlob(c, `out/hsdi/${o.path}`);
      expect(sha(body), o.path).toBe(o.sha256);
      const props = await c.getBlobClient(`out/hsdi/${o.path}`).getProperties();
      expect(Buffer.from(props.contentMD5!).toString('hex')).toBe(createHash('md5').update(body).digest('hex'));
      expect(props.etag!.replace(/"/g, '')).toBe(o.etag);
    }
    expect(await listBlobs(c, 'out/hsdi/_SUCCESS')).toEqual(new Map([['out/hsdi/_SUCCESS', 0]]));
  });

  it('ferry verify az://…/out/hsdi/: whole, with --deep too; not whole once a blob is overwritten', async () => {
    const verify = (args: string[]) => ferry(['verify', '--azure-config', join(dir, '..', 'az-verify'), ...args]);
    writeFileSync(join(dir, '..', 'az-verify'), azureConfigText(az));
    const row = uri('out/hsdi/');
    const whole = await verify([row]);
    expect(whole.exitCode, whole.all).toBe(0);
    expect(whole.stdout).toMatch(
      new RegExp(`^${row}: whole: 10 object\\(s\\), 12\\.\\d MiB, size and ETag as in the manifest$`),
    );
    const deep = await verify(['--deep', row]);
    expect(deep.exitCode, deep.all).toBe(0);
    const key = 'out/hsdi/output/rank_3.out';
    const orig = await getBlob(c, key);
    await putBlob(c, key, orig.toString().replace('value=4', 'value=5'));
    try {
      const r = await verify([row]);
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`^changed\\s+${row}output/rank_3\\.out\\s+`, 'm'));
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`${row}: NOT whole: 1 finding (1 changed)`);
    } finally {
      await putBlob(c, key, orig);
    }
  });

  it('leaves only ferry.log (the inputs, outputs, the azure file and ferry itself are accounted for)', () => {
    expect(readdirSync(dir)).toEqual(['ferry.log']);
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).not.toContain(az.key);
    expect(r.all).not.toContain(az.key);
  });
});

describe('the wipe on Azure: only after every output is verified, only what ferry accounts for', () => {
  it('keeps unrelated files of a project folder, lists them in the manifest', async () => {
    const { dir } = runDir('az-project');
    mkdirSync(join(dir, 'notes'));
    writeFileSync(join(dir, 'notes/project.txt'), 'my notes\n');
    const solver = ['sh', '-c', 'mkdir -p res && cat inputs.in > res/out.txt && echo changed >> spray.in'];
    const args = runArgs(uri('in/pintle.zip'), uri('out/project/'), solver, ['--no-mpi']);
    const r = await ferry(args, { cwd: dir, bin: './ferry' });
    expect(r.exitCode, r.all).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'notes']);
    expect(readFileSync(join(dir, 'notes/project.txt'), 'utf8')).toBe('my notes\n');
    expect([...(await listBlobs(c, 'out/project/')).keys()]).toEqual([
      'out/project/_SUCCESS',
      'out/project/_ferry.log',
      'out/project/_manifest.json',
      'out/project/res/out.txt',
      'out/project/spray.in',
    ]);
    const m = JSON.parse((await getBlob(c, 'out/project/_manifest.json')).toString());
    expect(m.kept.map((k: { path: string }) => k.path)).toEqual(['notes/project.txt']);
  });

  it('a wrong account key: exit 77 naming the cause, the key never printed, only the key file deleted', async () => {
    const wrong = Buffer.alloc(64, 7).toString('base64');
    const { dir } = runDir('az-wrongkey', azureConfigText(az, wrong));
    writeFileSync(join(dir, 'mine.txt'), 'keep\n');
    const solver = ['sh', '-c', 'echo x > x.txt'];
    const args = runArgs(uri('in/params.txt'), uri('out/wrongkey/'), solver, ['--no-mpi']);
    const r = await ferry(args, { cwd: dir, bin: './ferry' });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toMatch(/access denied/);
    expect(r.stderr).toMatch(/hint: .*(account key|AZURE_STORAGE_KEY)/);
    expect(r.all).not.toContain(wrong);
    expect(r.all).toContain('deleted ./azure (--azure-config): it holds a secret');
    expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'ferry', 'ferry.log', 'mine.txt']);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('keep\n');
  });

  it('a missing container: exit 66 naming it, nothing downloaded', async () => {
    const { dir } = runDir('az-nocontainer');
    const solver = ['sh', '-c', 'true'];
    const r = await ferry(runArgs(`az://${ACCT}/no-such-container/in.txt`, uri('out/nc/'), solver, ['--no-mpi']), {
      cwd: dir,
    });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain('container does not exist');
    expect(r.stderr).toContain(`az://${ACCT}/no-such-container/in.txt`);
  });
});

describe('input on S3, output on Azure (one row, two stores)', () => {
  it('downloads from S3 with --aws-config, uploads to Azure with --azure-config, both wiped after', async () => {
    const admin = adminClient(s3);
    const BUCKET = bucketFor('ferry-azure-mixed');
    await ensureBucket(admin, BUCKET);
    await emptyPrefix(admin, BUCKET, '');
    await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
    admin.destroy();
    const { dir } = runDir('az-mixed');
    writeAwsConfig(dir, s3);
    const solver = ['sh', '-c', 'cat inputs.in > result.txt'];
    const extra = ['--aws-config', 'config', '--no-mpi'];
    const args = runArgs(`s3://${BUCKET}/in/pintle.zip`, uri('out/mixed/'), solver, extra);
    const r = await ferry(args, { cwd: dir, bin: './ferry' });
    expect(r.exitCode, r.all).toBe(0);
    const inputs = readFileSync(join(ROOT, 'fixtures/cases/pintle/inputs.in'));
    expect((await getBlob(c, 'out/mixed/result.txt')).equals(inputs)).toBe(true);
    const m = JSON.parse((await getBlob(c, 'out/mixed/_manifest.json')).toString());
    expect(m.inputs[0].uri).toBe(`s3://${BUCKET}/in/pintle.zip`);
    expect(m.status).toBe('complete');
    expect(readdirSync(dir)).toEqual(['ferry.log']);
    expect(r.all).not.toContain(s3.secretKey);
    expect(r.all).not.toContain(az.key);
  });
});

describe('live upload to Azure (--settle 0.5)', () => {
  it('uploads settled files while the solver runs, re-uploads a changed one, removes a deleted one', async () => {
    const { dir } = runDir('az-live');
    copyFileSync(join(ROOT, 'fixtures/solver/live-writer.sh'), join(dir, 'live-writer.sh'));
    const gate = join(tempDir('gate'), 'open');
    const args = runArgs(
      uri('in/params.txt'),
      uri('live/'),
      ['./live-writer.sh', gate],
      ['--settle', '0.5', '--no-mpi'],
    );
    const run = startFerry(args, { cwd: dir, env: cleanEnv(), bin: './ferry' });
    const seen = async () => {
      const during = [...(await listBlobs(c, 'live/')).keys()];
      return during.includes('live/out/early.dat') && during.includes('live/scratch.tmp');
    };
    await waitFor('early.dat and scratch.tmp in Azure while the solver waits', seen, { alive: run.running });
    expect(existsSync(`${gate}.expired`), 'the solver was still waiting').toBe(false);
    expect((await getBlob(c, 'live/out/early.dat')).toString()).toBe('v1\n');
    writeFileSync(gate, '');
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    expect([...(await listBlobs(c, 'live/')).keys()]).toEqual([
      'live/_SUCCESS',
      'live/_ferry.log',
      'live/_manifest.json',
      'live/out/early.dat',
      'live/out/late.dat',
    ]);
    expect((await getBlob(c, 'live/out/early.dat')).toString()).toBe('v2-longer\n');
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'live-writer.sh']);
  });
});

describe('one run per output prefix on Azure (the lease, written with If-None-Match: *)', () => {
  it('a second row with the same output exits 75 naming the first; the first completes, lease removed', async () => {
    const a = runDir('az-lease-a');
    const b = runDir('az-lease-b');
    const gate = join(tempDir('gate'), 'open');
    const wait = `echo a > a.txt; i=0; until [ -f ${gate} ] || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done`;
    const first = startFerry(runArgs(uri('in/params.txt'), uri('same/'), ['sh', '-c', wait], ['--no-mpi']), {
      cwd: a.dir,
      env: cleanEnv(),
      bin: './ferry',
    });
    await waitFor('the lease', async () => (await listBlobs(c, 'same/')).has('same/_ferry.lease'), {
      alive: first.running,
    });
    const lease = JSON.parse((await getBlob(c, 'same/_ferry.lease')).toString());
    // Another row (its own input) on the same output prefix: a copy-paste slip in inputs.csv.
    const args = runArgs(uri('in/other.txt'), uri('same/'), ['sh', '-c', 'echo b > b.txt'], ['--no-mpi']);
    const second = await ferry(args, { cwd: b.dir, bin: './ferry' });
    expect(second.exitCode, second.all).toBe(75);
    expect(second.stderr).toContain(`run ${lease.run_id}`);
    writeFileSync(gate, '');
    const r = await first.result;
    expect(r.exitCode, r.all).toBe(0);
    expect([...(await listBlobs(c, 'same/')).keys()]).toEqual([
      'same/_SUCCESS',
      'same/_ferry.log',
      'same/_manifest.json',
      'same/a.txt',
    ]);
  });
});

describe('credentials from the environment (AZURE_STORAGE_CONNECTION_STRING)', () => {
  it('the solver does not get them; the key is masked in what ferry relays', async () => {
    const dir = tempDir('az-env');
    const env = cleanEnv({ AZURE_STORAGE_CONNECTION_STRING: az.connectionString, AZURE_STORAGE_KEY: az.key });
    const solver = ['sh', '-c', 'env > env.txt; echo "solver saw $0"', az.key];
    const args = ['run', '--input', uri('in/params.txt'), '--output', uri('env/'), '--no-mpi', '--', ...solver];
    const r = await ferry(args, { cwd: dir, env });
    expect(r.exitCode, r.all).toBe(0);
    const seen = (await getBlob(c, 'env/env.txt')).toString();
    expect(seen).not.toMatch(/AZURE_STORAGE_(CONNECTION_STRING|KEY)=/);
    expect(r.all).toContain('solver saw ***');
    expect(r.all).not.toContain(az.key);
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).not.toContain(az.key);
  });
});

describe('ferry doe init + doe rehearse --slots 2 on Azure', () => {
  it('lists the input zips, writes inputs.csv with az:// rows, and rehearses both rows to complete', async () => {
    const dir = tempDir('az-doe');
    writeFileSync(join(dir, 'azure'), azureConfigText(az));
    const init = await ferry(
      ['doe', 'init', '--azure-config', 'azure', '--inputs', uri('in/'), '--output', uri('doe/'), '--', 'sh', 'x'],
      { cwd: dir },
    );
    expect(init.exitCode, init.all).toBe(0);
    expect(readFileSync(join(dir, 'inputs.csv'), 'utf8')).toBe(
      `s3_input,s3_output\n${uri('in/hsdi.zip')},${uri('doe/hsdi/')}\n${uri('in/pintle.zip')},${uri('doe/pintle/')}\n`,
    );
    // A solver ferry knows no checkpoints of: the run command as given, no --checkpoint.
    expect(init.stdout).toContain('./ferry run --vars ferry-vars.txt --azure-config azure -- sh x');
    expect(init.stdout).not.toContain('--checkpoint');
    const solver = ['sh', '-c', 'ls > listing.txt'];
    const r = await ferry(
      ['doe', 'rehearse', 'inputs.csv', '--slots', '2', '--azure-config', 'azure', '--no-mpi', '--', ...solver],
      {
        cwd: dir,
      },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^2\\s+0\\s+.*complete\\s+${uri('doe/pintle/_ferry.rehearsal/')}$`, 'm'));
    expect((await getBlob(c, 'doe/pintle/_ferry.rehearsal/listing.txt')).toString()).toContain('inputs.in');
    expect((await listBlobs(c, 'doe/hsdi/')).has('doe/hsdi/_ferry.rehearsal/_SUCCESS')).toBe(true);
    expect(readdirSync(join(dir, 'rehearsal/row-1'))).toEqual(['ferry.log']);
    // and doe status reads both rows back from Azure: rehearsed, never run
    const st = await ferry(['doe', 'status', 'inputs.csv', '--azure-config', 'azure'], { cwd: dir });
    expect(st.exitCode, st.all).not.toBe(0);
    expect(st.stdout).toMatch(/^hsdi\s+no-output\s.*only a rehearsal did \(complete, on /m);
    expect(st.stdout).toMatch(/^pintle\s+no-output\s.*only a rehearsal did \(complete, on /m);
    expect(st.stdout.trimEnd().split('\n').at(-1)).toBe('2 row(s): 2 no-output');
  });
});

describe('ferry check on Azure', () => {
  it('green: the input readable, the output prefix writable, no probe left behind; a missing input is 66', async () => {
    const dir = tempDir('az-check');
    writeFileSync(join(dir, 'azure'), azureConfigText(az));
    const check = (input: string) =>
      ferry(['check', '--azure-config', 'azure', '--input', uri(input), '--output', uri('out/check/')], { cwd: dir });
    const r = await check('in/params.txt');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`${uri('in/params.txt')}: readable, 4 B`);
    expect(r.stdout).toMatch(new RegExp(`^output +${uri('out/check/').replace(/\//g, '\\/')}: writable`, 'm'));
    expect(r.stdout).toMatch(/^result +OK/m);
    expect(r.all).not.toContain(az.key);
    expect(await listBlobs(c, 'out/check/')).toEqual(new Map());
    const missing = await check('in/nope.txt');
    expect(missing.exitCode, missing.all).toBe(66);
    expect(missing.stdout).toMatch(/^result +NOT OK \(exit 66\)$/m);
  });
});

describe('the https://ACCOUNT.blob.core.windows.net form of a location', () => {
  it('is the same location as az://: ferry get fetches it (the endpoint from the connection string)', async () => {
    const out = tempDir('az-https');
    const https = `https://${ACCT}.blob.core.windows.net/${CONTAINER}/in/params.txt`;
    const r = await ferry(['get', https, out], {
      env: cleanEnv({ AZURE_STORAGE_CONNECTION_STRING: az.connectionString }),
    });
    expect(r.exitCode, r.all).toBe(0);
    expect(readFileSync(join(out, 'params.txt'), 'utf8')).toBe('p=1\n');
    expect(r.stderr).not.toContain('blob.core.windows.net'); // messages print the az:// form
  });
});
