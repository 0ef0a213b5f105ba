import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { Ledger } from '../helpers/ledger.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';

// What reads a DOE back copes with what a store may hold: a corrupt manifest is reported for its
// row and the others are read; keys with commas and quotes survive inputs.csv and s3_input; keys
// with terminal escapes are shown escaped.
const BUCKET = 'ferry-i21-readers';
const s3 = inject('s3');
const admin = adminClient(s3);
let cfg: string;
let ledger: Ledger;

/** Deletes one by one what a batch delete's XML cannot name (keys with control characters, from a failed run). */
async function dropControlKeys(): Promise<void> {
  for (const key of (await listAll(admin, BUCKET, '')).keys())
    // eslint-disable-next-line no-control-regex -- the keys to find
    if (/[\x00-\x1f]/.test(key)) await admin.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await dropControlKeys();
  await emptyPrefix(admin, BUCKET, '');
  cfg = writeAwsConfig(tempDir('readers-cfg'), s3);
  ledger = new Ledger(tempDir('readers'));
  await ledger.put(admin, BUCKET, 'in/params.txt', 'p=1\n');
  const r = await runRow(s3, {
    bucket: BUCKET,
    out: 'rows/good',
    inputs: [`s3://${BUCKET}/in/params.txt`],
    solver: ['sh', '-c', 'echo r > result.txt'],
  }).run;
  expect(r.exitCode, r.all).toBe(0);
  await ledger.put(admin, BUCKET, 'rows/broken/result.txt', 'r\n');
  await ledger.put(
    admin,
    BUCKET,
    'rows/broken/_manifest.json',
    JSON.stringify({ status: 'complete', outputs: [null] }),
  );
  await ledger.put(admin, BUCKET, 'rows/broken/_SUCCESS', '');
});
afterAll(() => admin.destroy());

describe('a manifest holding null in outputs', () => {
  it('ferry verify: that prefix reported corrupt, the other checked; 65 at the end, no crash', async () => {
    const r = await ferry(['verify', '--aws-config', cfg, `s3://${BUCKET}/rows/broken/`, `s3://${BUCKET}/rows/good/`], {
      env: cleanEnv(),
    });
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stdout).toMatch(
      /corrupt\s+s3:\/\/ferry-i21-readers\/rows\/broken\/_manifest\.json\s+.*outputs\[0\] is null/,
    );
    expect(r.stdout).toContain(`s3://${BUCKET}/rows/good/: whole: 1 object(s)`);
    expect(r.all).not.toContain('internal error');
    expect(await ledger.lost(admin, BUCKET, 'nowhere/')).toEqual([]);
  });

  it('ferry doe status --output and inputs.csv: that row incomplete with the reason, the others read', async () => {
    const byPrefix = await ferry(['doe', 'status', '--aws-config', cfg, '--output', `s3://${BUCKET}/rows/`], {
      env: cleanEnv(),
    });
    expect(byPrefix.exitCode, byPrefix.all).toBe(1);
    expect(byPrefix.stdout).toMatch(
      /broken\s+incomplete.*_manifest\.json: not a ferry manifest, or a corrupt one: outputs\[0\] is null/,
    );
    expect(byPrefix.stdout).toMatch(/good\s+complete\s+0\s+1/);
    const csv = join(tempDir('readers-csv'), 'inputs.csv');
    writeFileSync(
      csv,
      `s3_input,s3_output\ns3://${BUCKET}/in/params.txt,s3://${BUCKET}/rows/broken/\n` +
        `s3://${BUCKET}/in/params.txt,s3://${BUCKET}/rows/good/\n`,
    );
    const byCsv = await ferry(['doe', 'status', csv, '--aws-config', cfg, '--html', join(tempDir('html'), 's.html')], {
      env: cleanEnv(),
    });
    expect(byCsv.exitCode, byCsv.all).toBe(1);
    expect(byCsv.stdout).toContain('2 row(s): 1 complete, 1 incomplete');
    expect(await ledger.lost(admin, BUCKET, 'rows/')).toEqual([]);
  });
});

describe('keys holding , and "', () => {
  it('doe init quotes them (RFC 4180), doe rehearse reads them back, run takes each s3_input whole', async () => {
    const src = tempDir('comma-zip');
    new Ledger(src).write('case.in', 'a case\n');
    execFileSync('zip', ['-q', 'z.zip', 'case.in'], { cwd: src });
    const zip = readFileSync(join(src, 'z.zip'));
    const keys = ['in17/case,v2.zip', 'in17/we"ird.zip'];
    for (const k of keys) await ledger.put(admin, BUCKET, k, zip);
    const dir = tempDir('doe17');
    const init = await ferry(
      ['doe', 'init', '--aws-config', cfg, '--inputs', `s3://${BUCKET}/in17/`, '--output', `s3://${BUCKET}/out17/`],
      { cwd: dir, env: cleanEnv() },
    );
    expect(init.exitCode, init.all).toBe(0);
    expect(readFileSync(join(dir, 'inputs.csv'), 'utf8')).toBe(
      's3_input,s3_output\n' +
        `"s3://${BUCKET}/in17/case,v2.zip","s3://${BUCKET}/out17/case,v2/"\n` +
        `"s3://${BUCKET}/in17/we""ird.zip","s3://${BUCKET}/out17/we""ird/"\n`,
    );
    writeAwsConfig(dir, s3);
    const rehearse = await ferry(
      [
        'doe',
        'rehearse',
        'inputs.csv',
        '--slots',
        '1',
        '--aws-config',
        'config',
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'ls > ls.txt',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(rehearse.exitCode, rehearse.all).toBe(0);
    for (const out of ['case,v2', 'we"ird']) {
      const m = JSON.parse((await getBytes(admin, BUCKET, `out17/${out}/_ferry.rehearsal/_manifest.json`)).toString());
      expect(m.status).toBe('complete');
      expect(m.inputs.map((i: { uri: string }) => i.uri)).toEqual([`s3://${BUCKET}/in17/${out}.zip`]);
      expect((await getBytes(admin, BUCKET, `out17/${out}/_ferry.rehearsal/ls.txt`)).toString()).toContain('case.in');
    }
    expect(await ledger.lost(admin, BUCKET, 'out17/')).toEqual([]);
  });

  it('s3_input holding a list is still split, where a URI starts', async () => {
    const { run } = runRow(s3, {
      bucket: BUCKET,
      out: 'list17',
      inputs: [],
      solver: ['sh', '-c', 'ls > ls.txt'],
      env: { s3_input: `s3://${BUCKET}/in17/case,v2.zip, s3://${BUCKET}/in/params.txt` },
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const m = JSON.parse((await getBytes(admin, BUCKET, 'list17/_manifest.json')).toString());
    expect(m.inputs.map((i: { uri: string }) => i.uri)).toEqual([
      `s3://${BUCKET}/in17/case,v2.zip`,
      `s3://${BUCKET}/in/params.txt`,
    ]);
    expect(await ledger.lost(admin, BUCKET, 'list17/')).toEqual([]);
  });
});

describe('keys with terminal escapes', () => {
  it('ferry verify shows them escaped: no control character reaches the terminal', async () => {
    const key = 'rows/good/\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r.txt';
    await ledger.put(admin, BUCKET, key, 'planted\n');
    try {
      const r = await ferry(['verify', '--aws-config', cfg, `s3://${BUCKET}/rows/good/`], { env: cleanEnv() });
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stdout).toContain('rows/good/\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x0d.txt');
      // eslint-disable-next-line no-control-regex -- what must not be there
      expect(r.all).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
      expect(await ledger.lost(admin, BUCKET, 'nowhere/')).toEqual([]);
    } finally {
      ledger.objects.delete(key);
      await dropControlKeys();
      expect((await listAll(admin, BUCKET, 'rows/good/')).has(key)).toBe(false);
    }
  });
});
