import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { walk } from '../helpers/tree.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// One run per run directory, one run per output prefix: a second ferry is refused with exit 75
// naming the first, and a run never deletes objects it did not write.
const BUCKET = bucketFor('ferry-one-run');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
  await putBytes(admin, BUCKET, 'in/other.txt', 'p=2\n');
});
afterAll(() => admin.destroy());

const runArgs = (out: string, solver: string, extra: string[] = [], input = 'in/params.txt') => [
  ...['run', '--aws-config', 'config', ...extra, '--input', `s3://${BUCKET}/${input}`],
  ...['--output', `s3://${BUCKET}/${out}/`, '--no-mpi', '--', 'sh', '-c', solver],
];

/** A solver that writes out.txt, then waits until DIR/release exists (the test creates it). */
const HELD =
  'echo "row output" > out.txt; i=0; until [ -f release ] || [ $i -gt 1200 ]; do sleep 0.1; i=$((i+1)); done; ' +
  'rm -f release';

/** ferry run in the background with the HELD solver. */
function slowRun(dir: string, out: string, extra: string[] = [], env = cleanEnv()) {
  return startFerry(runArgs(out, HELD, extra), { cwd: dir, env });
}

const leaseThere = async (out: string) => (await listAll(admin, BUCKET, `${out}/`)).has(`${out}/_ferry.lease`);
const readLease = async (out: string) => JSON.parse((await getBytes(admin, BUCKET, `${out}/_ferry.lease`)).toString());

describe('two rows with the same s3_output at once (a copy-paste slip in inputs.csv)', () => {
  it(
    'the second exits 75 naming the first; the first completes and its manifest lists only objects that ' + 'exist',
    async () => {
      const a = tempDir('row-a');
      const b = tempDir('row-b');
      writeAwsConfig(a, s3);
      writeAwsConfig(b, s3);
      const first = slowRun(a, 'same');
      await waitFor('the lease', () => leaseThere('same'), { alive: first.running });
      const lease = await readLease('same');
      // Another row: its own input (a row's identity is its output prefix and its inputs).
      const second = await ferry(runArgs('same', 'echo b > b.txt', [], 'in/other.txt'), { cwd: b });
      expect(second.exitCode, second.all).toBe(75);
      expect(second.stderr).toContain(`run ${lease.run_id}`);
      expect(second.stderr).toContain(`pid ${lease.pid}`);
      expect(second.stderr).toContain('same s3_output');
      expect(existsSync(join(b, 'other.txt')), 'nothing downloaded').toBe(false);
      writeFileSync(join(a, 'release'), '');
      const r = await first.result;
      expect(r.exitCode, r.all).toBe(0);
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

  it('the lease is renewed while its run lasts (read twice); a second run after the TTL is refused', async () => {
    const a = tempDir('renew-a');
    const b = tempDir('renew-b');
    writeAwsConfig(a, s3);
    writeAwsConfig(b, s3);
    // A 3 s TTL: renewed every second (ttl/10, at least 1 s).
    const env = cleanEnv({ FERRY_LEASE_TTL_SECONDS: '3' });
    const first = slowRun(a, 'renew', [], env);
    await waitFor('the lease', () => leaseThere('renew'), { alive: first.running });
    const taken = await readLease('renew');
    // Read again until its heartbeat is more than the TTL after the start: it was renewed, more than once.
    let now = taken;
    const age = (l: { started_at: string; heartbeat_at: string }) =>
      Date.parse(l.heartbeat_at) - Date.parse(l.started_at);
    await waitFor(
      'the lease renewed past its TTL',
      async () => {
        now = await readLease('renew');
        return age(now) > 3000;
      },
      { alive: first.running, everyMs: 250, timeoutMs: 30_000 },
    );
    expect(now).toMatchObject({ run_id: taken.run_id, started_at: taken.started_at, pid: taken.pid });
    const second = await ferry(runArgs('renew', 'true', ['--take-over']), { cwd: b, env });
    expect(second.exitCode, second.all).toBe(75);
    expect(second.stderr).toContain(`run ${taken.run_id}`);
    expect(second.stderr).toContain('renewed');
    writeFileSync(join(a, 'release'), '');
    expect((await first.result).exitCode).toBe(0);
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
    const written = Date.now();
    const dir = tempDir('stale');
    writeAwsConfig(dir, s3);
    const args = runArgs('stale', 'echo x > x.txt');
    const fresh = await ferry(args, { cwd: dir }); // default TTL: the lease (just written) is fresh
    expect(fresh.exitCode, fresh.all).toBe(75);
    expect(fresh.stderr).toContain('run dead-run on node-17 (pid 4242');
    // A TTL of 1 ms: the lease, written a moment ago, is stale at once. Each run that ends deletes
    // ./config (it holds a secret): for each re-run in place the user copies it in again.
    const env = cleanEnv({ FERRY_LEASE_TTL_SECONDS: '0.001' });
    // Ages are read off whole-second clocks (Date, Last-Modified): stale is 1 ms + 1 s of grain past
    // its write, so 2 s on those clocks (the runs before took that long until they got faster).
    await new Promise((r) => setTimeout(r, Math.max(0, written + 2100 - Date.now())));
    writeAwsConfig(dir, s3);
    const stale = await ferry(args, { cwd: dir, env });
    expect(stale.exitCode, stale.all).toBe(75);
    expect(stale.stderr).toContain('--take-over');
    writeAwsConfig(dir, s3);
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

/** Every file under `dir` but ferry.log (which the run there writes on), with its sha256. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of walk(dir)) {
    if (f !== 'ferry.log')
      out.set(
        f,
        createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex'),
      );
  }
  return out;
}

describe('a second ferry run in the same run directory while the first runs', () => {
  it('exits 75 naming the first one, changing nothing; the first completes, keeping what another wrote', async () => {
    const dir = tempDir('same-dir');
    writeAwsConfig(dir, s3);
    const first = slowRun(dir, 'dir-a');
    await waitFor('the solver to write out.txt', () => existsSync(join(dir, 'out.txt')), { alive: first.running });
    const lock = JSON.parse(readFileSync(join(dir, '.ferry-lock'), 'utf8'));
    const before = snapshot(dir);
    const second = await ferry(runArgs('dir-b', 'echo b > b.txt'), { cwd: dir });
    expect(second.exitCode, second.all).toBe(75);
    expect(second.stderr).toContain(`another ferry (pid ${lock.pid}`);
    // It wrote nothing: not a byte in the run dir (lock, state, inputs), not an object under its prefix.
    expect(snapshot(dir)).toEqual(before);
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).not.toContain('another ferry');
    expect(await listAll(admin, BUCKET, 'dir-b/')).toEqual(new Map());
    const text = 'written by someone else while the run ran\n';
    writeFileSync(join(dir, 'mine.txt'), text);
    writeFileSync(join(dir, 'release'), '');
    const r = await first.result;
    expect(r.exitCode, r.all).toBe(0);
    expect(existsSync(join(dir, '.ferry-lock'))).toBe(false);
    // A file that appeared during the run is an output: deleted only because it is in S3.
    const local = existsSync(join(dir, 'mine.txt')) ? readFileSync(join(dir, 'mine.txt'), 'utf8') : undefined;
    expect(local ?? (await getBytes(admin, BUCKET, 'dir-a/mine.txt')).toString()).toBe(text);
  });

  it('a ferry killed with kill -9 leaves its .ferry-lock: the re-run takes it over and completes', async () => {
    await emptyPrefix(admin, BUCKET, 'killed/');
    const dir = tempDir('killed');
    writeAwsConfig(dir, s3);
    const first = slowRun(dir, 'killed');
    await waitFor('the solver to write out.txt', () => existsSync(join(dir, 'out.txt')), { alive: first.running });
    const lock = JSON.parse(readFileSync(join(dir, '.ferry-lock'), 'utf8'));
    first.child.kill('SIGKILL');
    await first.result;
    writeFileSync(join(dir, 'release'), ''); // its solver, orphaned, ends too
    await waitFor('the orphaned solver to end', () => !existsSync(join(dir, 'release')));
    expect(JSON.parse(readFileSync(join(dir, '.ferry-lock'), 'utf8'))).toEqual(lock); // left behind
    const again = await ferry(runArgs('killed', 'echo again > again.txt'), { cwd: dir });
    expect(again.exitCode, again.all).toBe(0);
    expect(existsSync(join(dir, '.ferry-lock'))).toBe(false);
    expect([...(await listAll(admin, BUCKET, 'killed/')).keys()].sort()).toEqual(
      ['_SUCCESS', '_ferry.log', '_manifest.json', 'again.txt', 'out.txt'].map((k) => `killed/${k}`),
    );
  });

  it('a .ferry-lock naming a live pid that is not that ferry (the pid was reused) is taken over', async () => {
    const dir = tempDir('reused');
    writeAwsConfig(dir, s3);
    // This test's own process: alive, on this host, but started at another time than the lock says.
    const lock = { pid: process.pid, start: 1, host: hostname(), since: '2026-01-01T00:00:00Z', nonce: 'n' };
    writeFileSync(join(dir, '.ferry-lock'), `${JSON.stringify(lock)}\n`);
    const r = await ferry(runArgs('reused', 'echo r > r.txt'), { cwd: dir });
    expect(r.exitCode, r.all).toBe(0);
    expect(existsSync(join(dir, '.ferry-lock'))).toBe(false);
    expect((await listAll(admin, BUCKET, 'reused/')).has('reused/_SUCCESS')).toBe(true);
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
        'echo scratch > scratch.tmp; i=0; until [ -f go ] || [ $i -gt 1200 ]; do sleep 0.1; i=$((i+1)); done; ' +
        'rm -f scratch.tmp go; echo done > done.txt';
      const p = startFerry(runArgs('own', solver, ['--settle', '0.3']), { cwd: dir });
      // Verified by ferry (its log says so), not only listed: replaced before ferry's own check, the
      // object fails that check instead (a race the test would lose with quick uploads).
      const verified = () =>
        existsSync(join(dir, 'ferry.log')) &&
        /uploaded scratch\.tmp .*verified/.test(readFileSync(join(dir, 'ferry.log'), 'utf8'));
      await waitFor(
        'the live upload of scratch.tmp',
        async () => verified() && (await listAll(admin, BUCKET, 'own/')).has('own/scratch.tmp'),
        {
          alive: p.running,
        },
      );
      await putBytes(admin, BUCKET, 'own/scratch.tmp', 'another writer\n');
      writeFileSync(join(dir, 'go'), '');
      const r = await p.result;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain(`not removing s3://${BUCKET}/own/scratch.tmp: it was replaced in the store`);
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
