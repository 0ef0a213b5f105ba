import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { azureConfigText, freshContainer, getBlob } from '../helpers/azure.ts';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs } from '../helpers/solver.ts';

// The source tree as a developer runs it: bin/ferry on this Node (20, through tsx), a few whole
// commands against the real servers. The end-to-end suite runs the single executable users get
// (npm test sets FERRY_BIN); this checks that the source runs too, on the oldest Node it supports.
const SOURCE = join(ROOT, 'bin/ferry');
const BUCKET = bucketFor('ferry-smoke');
const s3 = inject('s3');
const az = inject('azure');
const admin = adminClient(s3);
const source = (args: string[], o: { cwd?: string; env?: Record<string, string> } = {}) =>
  ferry(args, { ...o, bin: SOURCE });

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(() => admin.destroy());

describe('bin/ferry from source', () => {
  it(`--version names this Node (${process.version})`, async () => {
    const r = await source(['--version']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ferry \\d+\\.\\d+\\.\\d+ \\(\\S+, node ${process.versions.node}\\)$`));
  });

  it('run: a whole row under mpirun, outputs byte for byte, manifest, _SUCCESS, the accounted wipe', async () => {
    const dir = tempDir('smoke-row');
    writeAwsConfig(dir, s3);
    const env = cleanEnv({ PATH: `${inject('solverDir')}:${process.env.PATH}` });
    const args = ['run', '--aws-config', 'config', '--np', '2', '--input', `s3://${BUCKET}/in/pintle.zip`];
    const r = await source([...args, '--output', `s3://${BUCKET}/row/`, '--', 'converge', 'super'], { cwd: dir, env });
    expect(r.exitCode, r.all).toBe(0);
    const want = expectedOutputs('pintle', 2, 4, 0);
    const keys = [...(await listAll(admin, BUCKET, 'row/')).keys()].sort();
    expect(keys).toEqual([...want.keys(), '_SUCCESS', '_ferry.log', '_manifest.json'].map((k) => `row/${k}`).sort());
    for (const [rel, bytes] of want)
      expect((await getBytes(admin, BUCKET, `row/${rel}`)).equals(bytes), rel).toBe(true);
    expect(readdirSync(dir)).toEqual(['ferry.log']);
  });

  it('doe status and verify read the row back', async () => {
    const dir = tempDir('smoke-doe');
    writeAwsConfig(dir, s3);
    writeFileSync(join(dir, 'inputs.csv'), `s3_input,s3_output\ns3://${BUCKET}/in/pintle.zip,s3://${BUCKET}/row/\n`);
    const st = await source(['doe', 'status', 'inputs.csv', '--aws-config', 'config'], { cwd: dir });
    expect(st.exitCode, st.all).toBe(0);
    expect(st.stdout.trimEnd().split('\n').at(-1)).toBe('1 row(s): 1 complete');
    const v = await source(['verify', '--deep', '--aws-config', 'config', `s3://${BUCKET}/row/`], { cwd: dir });
    expect(v.exitCode, v.all).toBe(0);
    expect(v.stdout).toContain('whole');
  });

  it('put and get on Azure Blob (Azurite): the Azure SDK loads and works on this Node', async () => {
    const c = await freshContainer(az, 'ferry-smoke');
    const dir = tempDir('smoke-az');
    writeFileSync(join(dir, 'azure'), azureConfigText(az));
    mkdirSync(join(dir, 'up'));
    writeFileSync(join(dir, 'up/a.txt'), 'smoke\n');
    const up = await source(['put', '--azure-config', 'azure', 'up', `az://${az.account}/ferry-smoke/x/`], {
      cwd: dir,
    });
    expect(up.exitCode, up.all).toBe(0);
    expect((await getBlob(c, 'x/a.txt')).toString()).toBe('smoke\n');
    const down = await source(['get', '--azure-config', 'azure', `az://${az.account}/ferry-smoke/x/a.txt`, 'got'], {
      cwd: dir,
    });
    expect(down.exitCode, down.all).toBe(0);
    expect(readFileSync(join(dir, 'got/a.txt'), 'utf8')).toBe('smoke\n');
  });

  it('a missing input: exit 66 naming it, from the source as from the build', async () => {
    const dir = tempDir('smoke-66');
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/nope.zip`];
    const r = await source([...args, '--output', `s3://${BUCKET}/nope/`, '--no-mpi', '--', 'true'], { cwd: dir });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain(`s3://${BUCKET}/in/nope.zip`);
  });
});
