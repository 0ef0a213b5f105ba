import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// One run per run directory, one run per output prefix: a second ferry is refused with exit 75
// naming the first, and a run never deletes objects it did not write.
const BUCKET = 'ferry-one-run';
const s3 = inject('s3');
const admin = adminClient(s3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

/** ferry run in the background; the solver writes DIR/out.txt, then waits until DIR/release exists. */
function slowRun(dir: string, out: string, extra: string[] = []) {
  const solver =
    'echo "row output" > out.txt; i=0; until [ -f release ] || [ $i -gt 300 ]; do sleep 0.1; i=$((i+1)); done; rm -f ' +
    'release';
  return execa(
    FERRY,
    [
      'run',
      '--aws-config',
      'config',
      ...extra,
      '--input',
      `s3://${BUCKET}/in/params.txt`,
      '--output',
      `s3://${BUCKET}/${out}/`,
      '--no-mpi',
      '--',
      'sh',
      '-c',
      solver,
    ],
    {
      cwd: dir,
      env: cleanEnv(),
      extendEnv: false,
      reject: false,
      all: true,
      stdin: 'ignore',
    },
  );
}

async function until(what: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await what()) return;
    await sleep(50);
  }
  throw new Error('timed out waiting');
}

const leaseThere = async (out: string) => (await listAll(admin, BUCKET, `${out}/`)).has(`${out}/_ferry.lease`);

describe('two rows with the same s3_output at once (a copy-paste slip in inputs.csv)', () => {
  it(
    'the second exits 75 naming the first; the first completes and its manifest lists only objects that ' + 'exist',
    async () => {
      const a = tempDir('row-a');
      const b = tempDir('row-b');
      writeAwsConfig(a, s3);
      writeAwsConfig(b, s3);
      const first = slowRun(a, 'same');
      await until(() => leaseThere('same'));
      const lease = JSON.parse((await getBytes(admin, BUCKET, 'same/_ferry.lease')).toString());
      const second = await ferry(
        [
          'run',
          '--aws-config',
          'config',
          '--input',
          `s3://${BUCKET}/in/params.txt`,
          '--output',
          `s3://${BUCKET}/same/`,
          '--no-mpi',
          '--',
          'sh',
          '-c',
          'echo b > b.txt',
        ],
        { cwd: b, env: cleanEnv() },
      );
      expect(second.exitCode, second.all).toBe(75);
      expect(second.stderr).toContain(`run ${lease.run_id}`);
      expect(second.stderr).toContain(`pid ${lease.pid}`);
      expect(second.stderr).toContain('same s3_output');
      expect(existsSync(join(b, 'params.txt')), 'nothing downloaded').toBe(false);
      writeFileSync(join(a, 'release'), '');
      const r = await first;
      expect(r.exitCode, String(r.all)).toBe(0);
      const keys = await listAll(admin, BUCKET, 'same/');
      // the lease is gone
      expect([...keys.keys()].sort()).toEqual([
        'same/_SUCCESS',
        'same/_ferry.log',
        'same/_manifest.json',
        'same/out.txt',
      ]);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'same/_manifest.json')).toString());
      for (const o of m.outputs) expect(keys.has(`same/${o.path}`), o.path).toBe(true);
    },
  );

  it('the lease is renewed while its run lasts: a second run long after the TTL is still refused', async () => {
    const a = tempDir('renew-a');
    const b = tempDir('renew-b');
    writeAwsConfig(a, s3);
    writeAwsConfig(b, s3);
    const env = cleanEnv({ FERRY_LEASE_TTL_SECONDS: '2' });
    const first = execa(
      FERRY,
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/renew/`,
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'sleep 6; echo a > a.txt',
      ],
      {
        cwd: a,
        env,
        extendEnv: false,
        reject: false,
        all: true,
        stdin: 'ignore',
      },
    );
    await until(() => leaseThere('renew'));
    await sleep(4500); // more than twice the TTL
    const second = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--take-over',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/renew/`,
        '--no-mpi',
        '--',
        'true',
      ],
      { cwd: b, env },
    );
    expect(second.exitCode, second.all).toBe(75);
    expect(second.stderr).toContain('renewed');
    expect((await first).exitCode).toBe(0);
  });

  it('a stale lease (its run stopped renewing it) is refused, then taken over with --take-over', async () => {
    await emptyPrefix(admin, BUCKET, 'stale/');
    const body = {
      run_id: 'dead-run',
      host: 'node-17',
      pid: 4242,
      ferry: 'ferry 0.1.0',
      started_at: '2026-01-01T00:00:00Z',
      heartbeat_at: '2026-01-01T00:00:00Z',
    };
    await putBytes(admin, BUCKET, 'stale/_ferry.lease', JSON.stringify(body));
    const dir = tempDir('stale');
    writeAwsConfig(dir, s3);
    const args = [
      'run',
      '--aws-config',
      'config',
      '--input',
      `s3://${BUCKET}/in/params.txt`,
      '--output',
      `s3://${BUCKET}/stale/`,
      '--no-mpi',
      '--',
      'sh',
      '-c',
      'echo x > x.txt',
    ];
    const env = cleanEnv({ FERRY_LEASE_TTL_SECONDS: '1' });
    const fresh = await ferry(args, { cwd: dir, env: cleanEnv() }); // default TTL: the lease (just written) is fresh
    expect(fresh.exitCode, fresh.all).toBe(75);
    expect(fresh.stderr).toContain('run dead-run on node-17 (pid 4242');
    await sleep(1500);
    const stale = await ferry(args, { cwd: dir, env });
    expect(stale.exitCode, stale.all).toBe(75);
    expect(stale.stderr).toContain('--take-over');
    const taken = await ferry([...args.slice(0, 1), '--take-over', ...args.slice(1)], { cwd: dir, env });
    expect(taken.exitCode, taken.all).toBe(0);
    expect(taken.stderr).toContain('taking over the stale lease of run dead-run');
    expect([...(await listAll(admin, BUCKET, 'stale/')).keys()].sort()).toEqual([
      'stale/_SUCCESS',
      'stale/_ferry.log',
      'stale/_manifest.json',
      'stale/x.txt',
    ]);
  });
});

describe('a second ferry run in the same run directory while the first runs', () => {
  it("exits 75 naming the first one's pid; the first completes and deletes none of the second's files", async () => {
    const dir = tempDir('same-dir');
    writeAwsConfig(dir, s3);
    const first = slowRun(dir, 'dir-a');
    await until(() => existsSync(join(dir, 'out.txt')));
    const lock = JSON.parse(readFileSync(join(dir, '.ferry-lock'), 'utf8'));
    const second = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/dir-b/`,
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'echo b > b.txt',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(second.exitCode, second.all).toBe(75);
    expect(second.stderr).toContain(`another ferry (pid ${lock.pid}`);
    const text = 'written by someone else while the run ran\n';
    writeFileSync(join(dir, 'mine.txt'), text);
    writeFileSync(join(dir, 'release'), '');
    const r = await first;
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(existsSync(join(dir, '.ferry-lock'))).toBe(false);
    // A file that appeared during the run is an output: deleted only because it is in S3.
    const local = existsSync(join(dir, 'mine.txt')) ? readFileSync(join(dir, 'mine.txt'), 'utf8') : undefined;
    expect(local ?? (await getBytes(admin, BUCKET, 'dir-a/mine.txt')).toString()).toBe(text);
    expect(await listAll(admin, BUCKET, 'dir-b/')).toEqual(new Map());
  });
});

describe('live upload removes from S3 only what this run wrote', () => {
  it(
    'an object replaced by someone else after its live upload is not deleted when the solver deletes its local ' +
      'file',
    async () => {
      await emptyPrefix(admin, BUCKET, 'own/');
      const dir = tempDir('own');
      writeAwsConfig(dir, s3);
      const solver =
        'echo scratch > scratch.tmp; i=0; until [ -f go ] || [ $i -gt 300 ]; do sleep 0.1; i=$((i+1)); done; rm -f ' +
        'scratch.tmp go; echo done > done.txt';
      const p = execa(
        FERRY,
        [
          'run',
          '--aws-config',
          'config',
          '--settle',
          '0.3',
          '--input',
          `s3://${BUCKET}/in/params.txt`,
          '--output',
          `s3://${BUCKET}/own/`,
          '--no-mpi',
          '--',
          'sh',
          '-c',
          solver,
        ],
        {
          cwd: dir,
          env: cleanEnv(),
          extendEnv: false,
          reject: false,
          all: true,
          stdin: 'ignore',
        },
      );
      await until(async () => (await listAll(admin, BUCKET, 'own/')).has('own/scratch.tmp'));
      await putBytes(admin, BUCKET, 'own/scratch.tmp', 'another writer\n');
      writeFileSync(join(dir, 'go'), '');
      const r = await p;
      expect(r.exitCode, String(r.all)).toBe(0);
      expect(String(r.stderr)).toContain(
        'not removing s3://ferry-one-run/own/scratch.tmp: it was replaced in the store',
      );
      expect((await getBytes(admin, BUCKET, 'own/scratch.tmp')).toString()).toBe('another writer\n');
    },
  );
});

describe('run definitions and prefixes that would trample each other (exit 64 before anything runs)', () => {
  it('doe rehearse refuses an inputs.csv in which two rows share an output prefix', async () => {
    const dir = tempDir('dup-csv');
    writeAwsConfig(dir, s3);
    writeFileSync(
      join(dir, 'inputs.csv'),
      `s3_input,s3_output\ns3://${BUCKET}/in/a.zip,s3://${BUCKET}/out/a/\n` +
        `s3://${BUCKET}/in/b.zip,s3://${BUCKET}/out/a\n`,
    );
    const r = await ferry(['doe', 'rehearse', 'inputs.csv', '--aws-config', 'config', '--', 'true'], {
      cwd: dir,
      env: cleanEnv(),
    });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('rows on lines 2 and 3 have the same s3_output');
    expect(existsSync(join(dir, 'rehearsal'))).toBe(false);
  });

  it.each([
    ['equal to the input prefix', 'in/', 'in/'],
    ['inside the input prefix', 'in/', 'in/out/'],
    ['containing the input object', 'in/params.txt', 'in/'],
    ['the bucket root', 'in/params.txt', ''],
  ])('an output prefix %s', async (_what, input, output) => {
    const dir = tempDir('overlap');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/${input}`,
        '--output',
        `s3://${BUCKET}/${output}`,
        '--no-mpi',
        '--',
        'true',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('overlaps the input');
    expect(readdirSync(dir)).toEqual(['config']);
  });
});
