import { randomUUID } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { lostFiles, pidsWith, processesWith, readLedger } from '../helpers/ledger.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// Bytes written late — by a helper the solver left behind, by orphaned ranks, or into a file while
// its upload runs — are in S3 or still on disk afterwards, never deleted unseen; and no process of
// the run outlives ferry.
const BUCKET = 'ferry-late';
const s3 = inject('s3');
const admin = adminClient(s3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(() => admin.destroy());

function lateRun(out: string, onTerm: 'flush' | 'ignore', grace: string) {
  const dir = tempDir(`late-${onTerm}`);
  writeAwsConfig(dir, s3);
  copyFileSync(join(ROOT, 'fixtures/solver/late-writers.sh'), join(dir, 'late-writers.sh'));
  const ledger = join(tempDir('ledger'), 'ledger.tsv');
  const mark = randomUUID();
  const run = ferry(
    [
      'run',
      '--aws-config',
      'config',
      '--input',
      `s3://${BUCKET}/in/params.txt`,
      '--output',
      `s3://${BUCKET}/${out}/`,
      '--settle',
      '0.5',
      '--grace',
      grace,
      '--no-mpi',
      '--',
      './late-writers.sh',
    ],
    { cwd: dir, env: cleanEnv({ LEDGER: ledger, TEST_MARK: mark, HELPER_ON_TERM: onTerm }) },
  );
  return { dir, ledger, mark, run };
}

describe('a helper the solver started detached (setsid, stdio closed) keeps writing after it exits', () => {
  it('is found and stopped with SIGTERM; what it wrote, its last words included, is in S3', async () => {
    const { dir, ledger, mark, run } = lateRun('flush', 'flush', '10');
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(
      /process \d+ \(sh -c .*\) was started by the run and still runs after the launcher exited/,
    );
    expect(processesWith('TEST_MARK', mark)).toEqual([]);
    const written = readLedger(ledger);
    expect(written.has('late/flush_2.txt'), 'the helper got SIGTERM and flushed').toBe(true);
    expect(await lostFiles(written, dir, admin, BUCKET, 'flush/')).toEqual([]);
    const keys = await listAll(admin, BUCKET, 'flush/');
    for (const rel of written.keys()) expect(keys.has(`flush/${rel}`), rel).toBe(true);
    expect(JSON.parse((await getBytes(admin, BUCKET, 'flush/_manifest.json')).toString()).status).toBe('complete');
    await sleep(500);
    expect(existsSync(join(dir, 'late'))).toBe(false); // nothing writes there any more
  });

  it('one that ignores SIGTERM is killed after --grace; every file it finished is in S3', async () => {
    const { dir, ledger, mark, run } = lateRun('ignore', 'ignore', '1');
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(/did not stop on SIGTERM within 1 s: killed/);
    expect(processesWith('TEST_MARK', mark)).toEqual([]);
    const written = readLedger(ledger);
    expect(written.size).toBeGreaterThan(3); // it wrote on after the solver's exit
    expect(await lostFiles(written, dir, admin, BUCKET, 'ignore/')).toEqual([]);
  });
});

describe('kill -9 on mpirun (the ranks are orphaned and go on writing)', () => {
  it(
    'ferry stops every rank before the final upload: nothing runs or writes after it exits, the outputs in S3 are ' +
      'what the ranks wrote',
    async () => {
      const dir = tempDir('kill9');
      writeAwsConfig(dir, s3);
      const mark = randomUUID();
      const env = cleanEnv({ PATH: `${inject('solverDir')}:${process.env.PATH}`, TEST_MARK: mark });
      const p = execa(
        FERRY,
        [
          'run',
          '--aws-config',
          'config',
          '--input',
          `s3://${BUCKET}/in/pintle.zip`,
          '--output',
          `s3://${BUCKET}/kill9/`,
          '--np',
          '4',
          '--grace',
          '10',
          '--',
          'converge',
          'super',
          '--sleep-ms',
          '700',
        ],
        {
          cwd: dir,
          env,
          extendEnv: false,
          reject: false,
          all: true,
          stdin: 'ignore',
        },
      );
      let seen = '';
      p.all!.on('data', (b: Buffer) => (seen += b.toString()));
      for (let i = 0; i < 600 && !seen.includes('Cycle 1 of 4'); i++) await sleep(50);
      const mpirun = pidsWith('TEST_MARK', mark, 'mpirun');
      expect(mpirun).toHaveLength(1);
      process.kill(mpirun[0], 'SIGKILL');
      const r = await p;
      expect(r.exitCode, String(r.all)).toBe(137);
      expect(String(r.stderr)).toMatch(/process \d+ \(converge super.*\) was started by the run and still runs/);
      expect(processesWith('TEST_MARK', mark)).toEqual([]);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'kill9/_manifest.json')).toString());
      expect(m).toMatchObject({ status: 'solver-failed', solver: { signal: 'SIGKILL' } });
      for (const o of m.outputs) {
        const body = (await getBytes(admin, BUCKET, `kill9/${o.path}`)).toString();
        if (o.path.startsWith('output/rank_'))
          expect(body, o.path).toMatch(/^(case=pintle rank=\d\/4 step=\d value=\d+\n)+$/);
      }
      await sleep(1500); // an orphan would have written its next step by now
      expect(readdirSync(dir)).toEqual(['ferry.log']);
    },
  );
});

describe('a file appended to while its final upload is under way', () => {
  it('is uploaded again before the wipe: S3 holds every byte', async () => {
    const proxy = await startFaultProxy(s3.endpoint, () => 'pass', 150); // slow round trips: the upload takes seconds
    try {
      const dir = tempDir('append');
      writeAwsConfig(dir, s3);
      const first = Buffer.from('ferry\n'.repeat(3 * 1024 * 1024));
      const p = ferry(
        [
          'run',
          '--aws-config',
          'config',
          '--endpoint',
          proxy.url,
          '--part-size',
          '5MiB',
          '--part-concurrency',
          '1',
          '--no-live-upload',
          '--input',
          `s3://${BUCKET}/in/params.txt`,
          '--output',
          `s3://${BUCKET}/append/`,
          '--no-mpi',
          '--',
          'sh',
          '-c',
          'yes ferry | head -c 18874368 > big.txt',
        ],
        { cwd: dir, env: cleanEnv() },
      );
      // Append once the multipart upload exists: ferry has read the file's state and is sending parts.
      const underWay = async () =>
        ((await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'append/' }))).Uploads ?? [])
          .length > 0;
      for (let i = 0; i < 1200 && !(await underWay()); i++) await sleep(20);
      appendFileSync(join(dir, 'big.txt'), 'APPENDED\n');
      const r = await p;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain('appeared or changed after their upload');
      const body = await getBytes(admin, BUCKET, 'append/big.txt');
      expect(body.equals(Buffer.concat([first, Buffer.from('APPENDED\n')]))).toBe(true);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'append/_manifest.json')).toString());
      expect(m.outputs).toEqual([expect.objectContaining({ path: 'big.txt', size: body.length })]);
    } finally {
      await proxy.close();
    }
  });
});
