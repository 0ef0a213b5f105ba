import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs } from '../helpers/solver.ts';

// The job author's setup and rehearsal: doe init writes the run definition, doe rehearse runs
// both rows at once as the platform would.
const BUCKET = bucketFor('ferry-doe');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  const zips = tempDir('zips');
  for (const c of ['hsdi', 'pintle']) await putBytes(admin, BUCKET, `input/${c}.zip`, readFileSync(zipCase(c, zips)));
  await putBytes(admin, BUCKET, 'input/README.txt', 'not a case');
});
afterAll(() => admin.destroy());

/** Where a rehearsal writes a row: a prefix of its own in the row's (in a pattern). */
const REH = '_ferry\\.rehearsal/$';

describe('ferry doe init + ferry doe rehearse --slots 2', () => {
  it('reproduces the two-row DOE end to end', async () => {
    const dir = tempDir('doe');
    writeAwsConfig(dir, s3);
    const init = await ferry(
      [
        'doe',
        'init',
        '--aws-config',
        'config',
        '--inputs',
        `s3://${BUCKET}/input/`,
        '--output',
        `s3://${BUCKET}/output/`,
        '--',
        'converge',
        'super',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(init.exitCode, init.all).toBe(0);
    expect(readFileSync(join(dir, 'inputs.csv'), 'utf8')).toBe(
      `s3_input,s3_output\ns3://${BUCKET}/input/hsdi.zip,s3://${BUCKET}/output/hsdi/\n` +
        `s3://${BUCKET}/input/pintle.zip,s3://${BUCKET}/output/pintle/\n`,
    );
    expect(readFileSync(join(dir, 'ferry-vars.txt'), 'utf8')).toContain('s3_input=${s3_input}');
    // CONVERGE: the restart files carry a preempted row on (issue 23).
    expect(init.stdout).toContain(
      './ferry run --vars ferry-vars.txt --aws-config config --checkpoint converge -- converge super',
    );
    expect(init.stdout).toMatch(/^ {2}checkpoints {7}--checkpoint converge: on a preemption or a lost node,/m);
    expect(init.stdout).toContain('ferry policy --input');
    // Which executable for which hardware, named with this version.
    const v = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(init.stdout).toMatch(new RegExp(`^ {22}ferry-${v.replace(/\\./g, '\\.')}-linux-x64 +x86-64 nodes`, 'm'));
    expect(init.stdout).toMatch(new RegExp(`^ {22}ferry-${v.replace(/\\./g, '\\.')}-linux-arm64 +Arm nodes`, 'm'));
    expect(init.stdout).toContain('ferry doe status inputs.csv --aws-config config --retry-csv retry.csv');

    const env = cleanEnv({
      PATH: `${inject('solverDir')}:${process.env.PATH}`,
      RESCALE_CORES_PER_SLOT: '8',
      HOME: tempDir('home'),
    });
    const r = await ferry(
      ['doe', 'rehearse', 'inputs.csv', '--slots', '2', '--aws-config', 'config', '--', 'converge', 'super'],
      { cwd: dir, env },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^1\\s+0\\s+\\S+ \\S+\\s+12\\.0 MiB\\s+[\\d.]+ s\\s+complete\\s+s3://${BUCKET}/output/hsdi/` + REH,
        'm',
      ),
    );
    expect(r.stdout).toMatch(
      new RegExp(`^2\\s+0\\s+.*complete\\s+s3://${BUCKET}/output/pintle/_ferry\\.rehearsal/$`, 'm'),
    );
    expect(r.all).toContain('[hsdi] Cycle 6 of 6');
    for (const [name, steps, vol] of [
      ['hsdi', 6, 12288],
      ['pintle', 4, 0],
    ] as const) {
      const expected = expectedOutputs(name, 8, steps, vol);
      for (const [rel, bytes] of expected)
        expect((await getBytes(admin, BUCKET, `output/${name}/_ferry.rehearsal/${rel}`)).equals(bytes), rel).toBe(true);
      const keys = [...(await listAll(admin, BUCKET, `output/${name}/`)).keys()];
      expect(keys).toContain(`output/${name}/_ferry.rehearsal/_SUCCESS`);
      // the row's own prefix holds nothing but the rehearsal: a rehearsal never passes for the run
      expect(keys.filter((k) => !k.startsWith(`output/${name}/_ferry.rehearsal/`))).toEqual([]);
    }
    expect(readdirSync(join(dir, 'rehearsal/row-1'))).toEqual(['ferry.log']);
    const st = await ferry(['doe', 'status', 'inputs.csv', '--aws-config', 'config', '--json'], { cwd: dir, env });
    expect(st.exitCode, st.all).not.toBe(0);
    const rows = st.stdout
      .trim()
      .split('\n')
      .slice(0, 2)
      .map((l) => JSON.parse(l));
    for (const row of rows) {
      expect(row.status).toBe('no-output');
      expect(row.note).toMatch(/^the row never ran; only a rehearsal did \(complete, on \S+ at 20\d\d-/);
    }
  });

  it('doe init refuses to overwrite, and names an input prefix without zips', async () => {
    const dir = tempDir('doe2');
    writeAwsConfig(dir, s3);
    const args = [
      'doe',
      'init',
      '--aws-config',
      'config',
      '--inputs',
      `s3://${BUCKET}/input/`,
      '--output',
      `s3://${BUCKET}/output/`,
    ];
    expect((await ferry(args, { cwd: dir, env: cleanEnv() })).exitCode).toBe(0);
    const again = await ferry(args, { cwd: dir, env: cleanEnv() });
    expect(again.exitCode).toBe(64);
    expect(again.stderr).toContain('--force');
    const none = await ferry(
      [
        'doe',
        'init',
        '--aws-config',
        'config',
        '--inputs',
        `s3://${BUCKET}/nothing/`,
        '--output',
        `s3://${BUCKET}/output/`,
        '--dir',
        tempDir('doe3'),
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(none.exitCode, none.all).toBe(66);
    expect(none.stderr).toContain(`no .zip inputs found (s3://${BUCKET}/nothing/)`);
  });

  it('ferry run --dry-run shows the four steps and changes nothing, locally or in S3', async () => {
    const dir = tempDir('dry');
    writeAwsConfig(dir, s3);
    const before = await listAll(admin, BUCKET, '');
    const r = await ferry(
      [
        'run',
        '--dry-run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/input/hsdi.zip`,
        '--output',
        `s3://${BUCKET}/output/dry/`,
        '--np',
        '4',
        '--',
        'converge',
        'super',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('extracted here: 4 entries');
    expect(r.stdout).toMatch(/mpirun -np 4 converge super/);
    expect(r.stdout).toContain(`s3://${BUCKET}/output/dry/<path>`);
    expect(r.stdout).toContain('the inputs as extracted, the outputs as uploaded, config');
    expect(r.stdout).toContain('kept: ferry.log');
    expect(readdirSync(dir)).toEqual(['config']);
    expect(await listAll(admin, BUCKET, '')).toEqual(before);
  });
});
