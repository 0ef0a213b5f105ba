// A row that fails before its solver starts leaves a record where its output prefix is writable: a
// manifest that says failed with the error, and _ferry.log; no _SUCCESS, no lease. doe status shows it
// failed with its error and exits 1.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const BUCKET = bucketFor('ferry-failed-rows');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p\n');
  await putBytes(admin, BUCKET, 'in/page.zip', '<html><body>Sign in</body></html>\n');
});
afterAll(() => admin.destroy());

const CASES = [
  ['solver-typo', 64, ['in/params.txt'], ['convrge', 'super'], 'usage'],
  ['missing-input', 66, ['in/nope.zip'], ['true'], 'download'],
  ['html-zip', 65, ['in/page.zip'], ['true'], 'extract'],
] as const;

describe('a row that fails before its solver starts', () => {
  it.each(CASES)(
    '%s: exit %d, a failed manifest with the error, _ferry.log, no _SUCCESS',
    async (out, code, inputs, solver, phase) => {
      const r = await runRow(s3, {
        bucket: BUCKET,
        out,
        inputs: inputs.map((k) => `s3://${BUCKET}/${k}`),
        solver: [...solver],
      }).run;
      expect(r.exitCode, r.all).toBe(code);
      const keys = [...(await listAll(admin, BUCKET, `${out}/`)).keys()].sort();
      expect(keys).toEqual([`${out}/_ferry.log`, `${out}/_manifest.json`]);
      const m = JSON.parse((await getBytes(admin, BUCKET, `${out}/_manifest.json`)).toString());
      expect(m.status).toBe('failed');
      expect(m.error).toMatchObject({ exit_code: code, phase });
      expect(r.stderr).toContain(m.error.message.split('\n')[0]);
      expect(m.attempts[0].host).toBeTruthy();
      const log = (await getBytes(admin, BUCKET, `${out}/_ferry.log`)).toString();
      expect(log).toContain(m.error.message.split('\n')[0]);
    },
  );

  it('doe status: failed with the error (text, --json), exit 1; the row is in the retry file', async () => {
    const dir = tempDir('failed-status');
    writeAwsConfig(dir, s3);
    const rows = CASES.map(([out, , inputs]) => `s3://${BUCKET}/${inputs[0]},s3://${BUCKET}/${out}/`);
    writeFileSync(join(dir, 'inputs.csv'), `s3_input,s3_output\n${rows.join('\n')}\n`);
    const args = ['doe', 'status', 'inputs.csv', '--aws-config', 'config'];
    const text = await ferry([...args, '--retry-csv', 'retry.csv', '--html', 'status.html'], {
      cwd: dir,
      env: cleanEnv(),
    });
    expect(text.exitCode, text.all).toBe(1);
    for (const [out, code] of CASES)
      expect(text.stdout).toMatch(
        new RegExp(`^${out}\\s+failed\\s+${code}\\s.*failed before its solver started: `, 'm'),
      );
    expect(text.stdout).toContain('3 row(s): 3 failed');
    expect(readFileSync(join(dir, 'retry.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
    const page = readFileSync(join(dir, 'status.html'), 'utf8');
    expect(page).toContain('data-status="failed"');
    expect(page).toContain('failed before its solver started: usage: solver &#39;convrge&#39;');
    const json = await ferry([...args, '--json'], { cwd: dir, env: cleanEnv() });
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.slice(0, 3).map((l) => [l.row, l.status, l.exit_code])).toEqual(
      CASES.map(([o, c]) => [o, 'failed', c]),
    );
    expect(lines[0].note).toMatch(/convrge/);
    expect(lines[0].host).toBeTruthy();
  });

  it('a failure that is the prefix itself writes nothing: another run holds its lease (75)', async () => {
    const out = 'held';
    await putBytes(
      admin,
      BUCKET,
      `${out}/_ferry.lease`,
      JSON.stringify({ row: 'x', attempt: 'other', host: 'elsewhere', pid: 1 }),
    );
    const r = await runRow(s3, { bucket: BUCKET, out, inputs: [`s3://${BUCKET}/in/params.txt`], solver: ['true'] }).run;
    expect(r.exitCode, r.all).toBe(75);
    expect([...(await listAll(admin, BUCKET, `${out}/`)).keys()]).toEqual([`${out}/_ferry.lease`]);
  });
});
