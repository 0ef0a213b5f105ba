// The README's "A job author's walkthrough", run as written: its commands (the bucket renamed to
// this test's), from ferry doe init to ferry doe status, with the platform played by a fresh run
// directory per row of inputs.csv holding what the job uploads (ferry, config, the rendered vars
// template). The commands doe init prints must be the README's.
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, installFerry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const s3 = inject('s3');
const admin = adminClient(s3);
const BUCKET = bucketFor('ferry-walkthrough');
const env = cleanEnv({ PATH: `${inject('solverDir')}:${process.env.PATH}`, RESCALE_CORES_PER_SLOT: '2' });

/** The README section's shell commands (continuation lines joined), and the job's command line. */
function readmeCommands(): { steps: string[]; jobCommand: string } {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf("## A job author's walkthrough"), text.indexOf('## Commands'));
  const steps = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]
      .split('\n')
      .map((l) => l.trim())
      .join(' ')
      .replace(/\\ +/g, '')
      .replace(/\s+/g, ' ')
      .trim()
      .replaceAll('my-simulation-data', BUCKET),
  );
  const jobCommand = /- command: `([^`]+)`/.exec(section)![1];
  return { steps, jobCommand };
}

const sh = (dir: string, command: string) =>
  execa('sh', ['-c', command], { cwd: dir, env, extendEnv: false, reject: false, all: true, stdin: 'ignore' });

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  const zips = tempDir('walk-zips');
  for (const name of ['hsdi', 'pintle'])
    await putBytes(admin, BUCKET, `input/${name}.zip`, readFileSync(zipCase(name, zips)));
});
afterAll(() => admin.destroy());

describe("the README's job author's walkthrough, as written", () => {
  it('doe init prints its commands; check, policy, rehearse, the rows on the platform, status: through', async () => {
    const { steps, jobCommand } = readmeCommands();
    expect(steps.map((s) => s.split(' ').slice(0, 3).join(' '))).toEqual([
      './ferry doe init',
      './ferry check --aws-config',
      './ferry policy --input',
      './ferry doe rehearse',
      './ferry doe status',
    ]);
    const [init, check, policy, rehearse, status] = steps;
    const job = tempDir('walk-job');
    installFerry(job);
    writeAwsConfig(job, s3);

    // 1. doe init: inputs.csv, the template, and the README's commands printed
    const i = await sh(job, init);
    expect(i.exitCode, i.all).toBe(0);
    const printed = i.stdout.split('\n').map((l) => l.trim());
    expect(printed).toContain(check);
    for (const want of [policy, rehearse, status, jobCommand])
      expect(
        printed.some((l) => l.endsWith(want)),
        `${want}\n--- printed:\n${i.stdout}`,
      ).toBe(true);
    const rows = readFileSync(join(job, 'inputs.csv'), 'utf8').trim().split('\n').slice(1);
    expect(rows).toHaveLength(2);
    expect(readFileSync(join(job, 'ferry-vars.txt'), 'utf8')).toContain('s3_input=${s3_input}');

    // 2.–4. check, policy, rehearse
    const c = await sh(job, check);
    expect(c.exitCode, c.all).toBe(0);
    const p = await sh(job, policy);
    expect(p.exitCode, p.all).toBe(0);
    expect(JSON.parse(readFileSync(join(job, 'policy.json'), 'utf8')).Statement.length).toBeGreaterThan(0);
    const r = await sh(job, rehearse);
    expect(r.exitCode, r.all).toBe(0);

    // 5. the platform: one fresh run dir per row, the template rendered, the job's command
    for (const row of rows) {
      const [input, output] = row.split(',');
      const dir = tempDir('walk-row');
      copyFileSync(join(job, 'ferry'), join(dir, 'ferry'));
      copyFileSync(join(job, 'config'), join(dir, 'config'));
      const tmpl = readFileSync(join(job, 'ferry-vars.txt'), 'utf8');
      writeFileSync(join(dir, 'ferry-vars.txt'), tmpl.replace('${s3_input}', input).replace('${s3_output}', output));
      const run = await sh(dir, jobCommand);
      expect(run.exitCode, run.all).toBe(0);
      expect(run.all).toContain('launching: mpirun -np 2 converge super'); // the real run ran the solver
      expect(readdirSync(dir)).toEqual(['ferry.log']);
      const m = JSON.parse(
        (await getBytes(admin, BUCKET, `${output.slice(`s3://${BUCKET}/`.length)}_manifest.json`)).toString(),
      );
      expect(m.status).toBe('complete');
    }

    // 6. status: every row complete, nothing to retry, a report written
    const st = await sh(job, status);
    expect(st.exitCode, st.all).toBe(0);
    expect(readFileSync(join(job, 'retry.csv'), 'utf8').trim().split('\n')).toHaveLength(1); // the header only
    expect(readFileSync(join(job, 'status.html'), 'utf8')).toContain('<html');
    expect([...(await listAll(admin, BUCKET, 'output/')).keys()]).toContain('output/hsdi/_SUCCESS');
  });
});
