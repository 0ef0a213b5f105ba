import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// Names ferry cannot or must not take: an output whose name is not valid UTF-8 (no S3 key can hold
// it), and an input zip whose entries carry ferry's own names.
const BUCKET = bucketFor('ferry-names');
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

describe('names', () => {
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
      // The last word is what fixes it: a re-run meets the same name.
      expect(r.stderr).toContain('not valid UTF-8 (bad\\xffname): no key can hold them, so a re-run would not help');
      expect(r.stderr).not.toContain('Re-run the same row');
      expect(readdirSync(dir, { encoding: 'buffer' }).some((n) => n.equals(Buffer.from('bad\xffname', 'latin1')))).toBe(
        true,
      );
    },
  );

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
      expect(log).toMatch(/^\S+Z ferry: ferry /);
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
