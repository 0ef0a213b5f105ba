import { randomUUID } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { lostFiles, pidsWith, processesWith, readLedger } from '../helpers/ledger.ts';
import { waitFor } from '../helpers/net.ts';
import { startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs } from '../helpers/solver.ts';

// Bytes written late — by a helper the solver left behind, by orphaned ranks, or into a file while
// its upload runs — are in S3 or still on disk afterwards, never deleted unseen; and no process of
// the run outlives ferry.
const BUCKET = bucketFor('ferry-late');
const s3 = inject('s3');
const admin = adminClient(s3);

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
    expect(existsSync(join(dir, 'late'))).toBe(false); // wiped, and nothing of the run is left to write there
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

describe('kill -9 on mpirun (the ranks are orphaned and go on)', () => {
  it(
    'ferry stops every rank before the final upload: nothing of the run is left running, the outputs in S3 are ' +
      'what the ranks wrote',
    async () => {
      // The ranks stay in step 1 while the hold file exists: orphaned, they would stay for good.
      const hold = join(tempDir('hold'), 'hold');
      writeFileSync(hold, '');
      await putBytes(
        admin,
        BUCKET,
        'in/pintle-held.zip',
        readFileSync(zipCase('pintle', tempDir('zips'), `hold_file ${hold}\n`)),
      );
      const dir = tempDir('kill9');
      writeAwsConfig(dir, s3);
      const mark = randomUUID();
      const env = cleanEnv({ PATH: `${inject('solverDir')}:${process.env.PATH}`, TEST_MARK: mark });
      const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/pintle-held.zip`];
      args.push('--output', `s3://${BUCKET}/kill9/`, '--np', '4', '--grace', '10', '--', 'converge', 'super');
      const p = startFerry(args, { cwd: dir, env });
      await waitFor('the solver in step 1', () => p.output().includes('Cycle 1 of 4'), { alive: p.running });
      const mpirun = pidsWith('TEST_MARK', mark, 'mpirun');
      expect(mpirun).toHaveLength(1);
      process.kill(mpirun[0], 'SIGKILL');
      const r = await p.result;
      expect(r.exitCode, r.all).toBe(137);
      expect(r.stderr).toMatch(/process \d+ \(converge super.*\) was started by the run and still runs/);
      expect(processesWith('TEST_MARK', mark)).toEqual([]);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'kill9/_manifest.json')).toString());
      expect(m).toMatchObject({ status: 'solver-failed', solver: { signal: 'SIGKILL' } });
      // Each rank wrote its step 1 and was stopped in it: exactly that is in S3, for all four.
      const want = expectedOutputs('pintle', 4, 4, 0);
      const ranks = [0, 1, 2, 3].map((i) => `output/rank_${i}.out`);
      expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(ranks);
      for (const rel of ranks) {
        const step1 = want
          .get(rel)!
          .toString()
          .split(/(?<=\n)/)[0];
        expect((await getBytes(admin, BUCKET, `kill9/${rel}`)).toString(), rel).toBe(step1);
      }
      expect(readdirSync(dir)).toEqual(['ferry.log']);
    },
  );
});

describe('a file appended to while its final upload is under way', () => {
  it('is uploaded again before the wipe: S3 holds every byte', async () => {
    // Through a front of ours that holds the first part: ferry has read the file's state and is sending
    // it when the test appends; then the part goes on.
    const front = await startRecorder(s3.endpoint);
    try {
      const held = front.hold((q) => q.method === 'PUT' && /\/append\/big\.txt\?.*partNumber=1(&|$)/.test(q.path));
      const dir = tempDir('append');
      writeAwsConfig(dir, s3);
      const first = Buffer.from('ferry\n'.repeat(3 * 1024 * 1024));
      const args = ['run', '--aws-config', 'config', '--endpoint', front.url, '--part-size', '5MiB'];
      args.push('--no-live-upload', '--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/append/`);
      args.push('--no-mpi', '--', 'sh', '-c', 'yes ferry | head -c 18874368 > big.txt');
      const p = startFerry(args, { cwd: dir });
      await held.wait(p.running);
      appendFileSync(join(dir, 'big.txt'), 'APPENDED\n');
      held.release();
      const r = await p.result;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain('appeared or changed after their upload');
      const body = await getBytes(admin, BUCKET, 'append/big.txt');
      expect(body.equals(Buffer.concat([first, Buffer.from('APPENDED\n')]))).toBe(true);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'append/_manifest.json')).toString());
      expect(m.outputs).toEqual([expect.objectContaining({ path: 'big.txt', size: body.length })]);
      // Sent twice: as it was when read (the held upload), then whole.
      const completes = front.requests.filter(
        (q) => q.method === 'POST' && /\/append\/big\.txt\?uploadId=/.test(q.path),
      );
      expect(completes).toHaveLength(2);
    } finally {
      await front.close();
    }
  });
});
