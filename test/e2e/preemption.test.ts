// A row finishes once, whatever happens to its nodes: the first attempt is stopped (SIGTERM to
// ferry, an interruption notice, or SIGKILL of ferry and the solver: the node is gone), and the same
// row then runs again in a fresh run directory, without --take-over. Real Ceph, real mpirun, the
// stand-in solver with CONVERGE's restart files.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { killTree } from '../../agent/solver/process-tree.ts';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { startMetadataServer } from '../helpers/metadata-server.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs, readStepLedger, restartFileBytes } from '../helpers/solver.ts';

const BUCKET = 'ferry-preempt';
const s3 = inject('s3');
const solverDir = inject('solverDir');
const admin = adminClient(s3);
const STEPS = 12;
const EVERY = 3;
const KIB = 64;
const RANKS = 2;
const CASE = 'pre';

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  const src = tempDir('pre-case');
  writeFileSync(
    join(src, 'inputs.in'),
    `case_name ${CASE}\nsteps ${STEPS}\nrestart_every ${EVERY}\nsleep_ms 700\n` +
      `restart_kib ${KIB}\nrestart_write_ms 300\n`,
  );
  writeFileSync(join(src, 'surface.dat'), 'the geometry\n');
  const zip = join(tempDir('pre-zip'), 'pre.zip');
  execFileSync('zip', ['-qrX', zip, '.'], { cwd: src });
  await putBytes(admin, BUCKET, 'in/pre.zip', readFileSync(zip));
  // The same case with restart files that take 2 s to write (4 pieces, held open): a node can die mid-write.
  writeFileSync(join(src, 'inputs.in'), readFileSync(join(src, 'inputs.in'), 'utf8').replace('300', '2000'));
  const slow = join(tempDir('pre-zip'), 'slow.zip');
  execFileSync('zip', ['-qrX', slow, '.'], { cwd: src });
  await putBytes(admin, BUCKET, 'in/slow.zip', readFileSync(slow));
});
afterAll(() => admin.destroy());

/** One attempt of the row `out`, in a fresh run directory (as the platform starts it on another node). */
function attempt(
  out: string,
  ledger: string,
  extraEnv: Record<string, string> = {},
  o: { input?: string; dir?: string } = {},
): ResultPromise {
  const dir = o.dir ?? tempDir('pre-run');
  writeAwsConfig(dir, s3);
  const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/${o.input ?? 'pre.zip'}`];
  args.push('--output', `s3://${BUCKET}/${out}/`, '--np', String(RANKS), '--checkpoint', 'converge');
  args.push('--settle', '1', '--grace', '5', '--', 'converge', 'super');
  const env = cleanEnv({
    PATH: `${solverDir}:${process.env.PATH}`,
    FAKE_CONVERGE_STEP_LEDGER: ledger,
    FERRY_LEASE_TTL_SECONDS: '8',
    ...extraEnv,
  });
  return execa(FERRY, args, { cwd: dir, env, extendEnv: false, reject: false, all: true, stdin: 'ignore' });
}

/** The checkpoints the row's journal holds (verified, finished), by path. */
async function journaledCheckpoints(out: string): Promise<string[]> {
  const keys = [...(await listAll(admin, BUCKET, `${out}/_ferry.journal/`)).keys()];
  const paths: string[] = [];
  for (const k of keys) {
    const seg = JSON.parse((await getBytes(admin, BUCKET, k)).toString());
    for (const e of seg.entries) if (e.checkpoint) paths.push(e.path);
  }
  return paths;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 120_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 300)))
    if (await ok()) return;
  throw new Error(`timed out waiting for ${what}`);
}

/** The prefix after the row completed: results equal an uninterrupted run's, verify whole, every object listed. */
async function expectWhole(out: string, ledger: string): Promise<void> {
  const objects = await listAll(admin, BUCKET, `${out}/`);
  const want = expectedOutputs(CASE, RANKS, STEPS, 0);
  for (const [rel, bytes] of want)
    expect((await getBytes(admin, BUCKET, `${out}/${rel}`)).equals(bytes), rel).toBe(true);
  const restarts = [...objects.keys()].filter((k) => /restart\d+\.rst$/.test(k));
  expect(restarts.length).toBeGreaterThan(0);
  for (const k of restarts) {
    const step = Number(/restart(\d+)\.rst$/.exec(k)![1]);
    expect((await getBytes(admin, BUCKET, k)).equals(restartFileBytes(CASE, RANKS, step, KIB)), k).toBe(true);
  }
  const m = JSON.parse((await getBytes(admin, BUCKET, `${out}/_manifest.json`)).toString());
  expect(m.status).toBe('complete');
  const own = (k: string) => /\/(_manifest\.json|_SUCCESS|_ferry\.log|_ferry\.lease)$|\/_ferry\.journal\//.test(k);
  const listed = [...objects.keys()]
    .filter((k) => !own(k))
    .map((k) => k.slice(out.length + 1))
    .sort();
  expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(listed);
  expect(m.attempts.length).toBe(2);
  const v = await ferry([
    'verify',
    '--deep',
    '--aws-config',
    writeAwsConfig(tempDir('pre-v'), s3),
    `s3://${BUCKET}/${out}/`,
  ]);
  expect(v.exitCode, v.all).toBe(0);
  // the hours already computed are not computed again: at most one checkpoint interval over the total
  const steps = readStepLedger(ledger).reduce((n, a) => n + a.steps.length, 0);
  expect(steps).toBeLessThanOrEqual(STEPS + EVERY);
  expect(readStepLedger(ledger)).toHaveLength(2);
}

describe('a row on capacity that goes away, carried on by a later attempt elsewhere', () => {
  it('SIGTERM to ferry mid-run: a checkpoint first, 143; the next attempt resumes from it, exit 0', async () => {
    const ledger = join(tempDir('pre-ledger'), 'steps');
    const first = attempt('term', ledger);
    await until('a journaled checkpoint', async () => (await journaledCheckpoints('term')).length > 0);
    first.kill('SIGTERM');
    const r1 = await first;
    expect(r1.exitCode, String(r1.all)).toBe(143);
    expect(r1.all).toContain('asked the solver for a checkpoint');
    const r2 = await attempt('term', ledger);
    expect(r2.exitCode, String(r2.all)).toBe(0);
    expect(r2.all).toMatch(/resuming from the checkpoint restart\d+\.rst/);
    await expectWhole('term', ledger);
  });

  it('an interruption notice (EC2 spot): a checkpoint, incomplete "preempted", 75; then complete', async () => {
    const ledger = join(tempDir('pre-ledger'), 'steps');
    const md = await startMetadataServer({ clouds: ['ec2'] });
    try {
      const env = {
        AWS_EC2_METADATA_DISABLED: 'false',
        AWS_EC2_METADATA_SERVICE_ENDPOINT: md.url,
        FERRY_AZURE_METADATA_DISABLED: 'true',
        FERRY_NOTICE_POLL_MS: '200',
      };
      const first = attempt('notice', ledger, env);
      await until('a journaled checkpoint', async () => (await journaledCheckpoints('notice')).length > 0);
      md.ec2Notice({ action: 'terminate', time: new Date(Date.now() + 120_000).toISOString() });
      const r1 = await first;
      expect(r1.exitCode, String(r1.all)).toBe(75);
      const m1 = JSON.parse((await getBytes(admin, BUCKET, 'notice/_manifest.json')).toString());
      expect(m1).toMatchObject({ status: 'incomplete', solver: { stopped: 'preempted' } });
    } finally {
      await md.close();
    }
    const r2 = await attempt('notice', ledger);
    expect(r2.exitCode, String(r2.all)).toBe(0);
    await expectWhole('notice', ledger);
  });

  it('SIGKILL of ferry and the solver (the node is gone): the next attempt takes the lease, resumes', async () => {
    const ledger = join(tempDir('pre-ledger'), 'steps');
    const first = attempt('kill', ledger);
    await until('a journaled checkpoint', async () => (await journaledCheckpoints('kill')).length > 0);
    killTree(first.pid!, 'SIGKILL');
    await first;
    expect((await listAll(admin, BUCKET, 'kill/')).has('kill/_ferry.lease')).toBe(true); // left behind
    const r2 = await attempt('kill', ledger);
    expect(r2.exitCode, String(r2.all)).toBe(0);
    expect(r2.all).toContain('taking over the lease');
    await expectWhole('kill', ledger);
  });
});

describe('what a later attempt must not do', () => {
  it('resume from a checkpoint the dead node was still writing: the journaled one is resumed from', async () => {
    const ledger = join(tempDir('pre-ledger'), 'steps');
    const dir = tempDir('pre-run');
    const first = attempt('torn', ledger, {}, { input: 'slow.zip', dir });
    const full = restartFileBytes(CASE, RANKS, EVERY, KIB).length;
    // the node dies while rank 0 is writing a later restart file than the newest journaled one
    let torn: { name: string; step: number } | undefined;
    await until('a restart file half written after a journaled checkpoint', async () => {
      const saved = (await journaledCheckpoints('torn')).map((p) => Number(/(\d+)\.rst$/.exec(p)![1]));
      if (saved.length === 0) return false;
      for (const name of readdirSync(dir)) {
        const step = Number(/^restart(\d+)\.rst$/.exec(name)?.[1] ?? NaN);
        if (step > Math.max(...saved) && statSync(join(dir, name)).size < full) torn = { name, step };
      }
      return torn !== undefined;
    });
    killTree(first.pid!, 'SIGKILL');
    await first;
    const { name, step } = torn!;
    const half = readFileSync(join(dir, name));
    expect(half.length).toBeLessThan(full);
    expect(await journaledCheckpoints('torn')).not.toContain(name);
    expect((await listAll(admin, BUCKET, 'torn/')).has(`torn/${name}`)).toBe(false); // held open: never sent
    // Worse: the half-written bytes reach the prefix anyway (another tool synced the dead node's disk).
    await putBytes(admin, BUCKET, `torn/${name}`, half);
    const r2 = await attempt('torn', ledger, {}, { input: 'slow.zip' });
    expect(r2.exitCode, String(r2.all)).toBe(0);
    const resumed = Number(/resuming from the checkpoint restart(\d+)\.rst/.exec(String(r2.all))?.[1]);
    expect(resumed).toBe(step - EVERY);
    expect(r2.all).not.toContain(`restored ${name}`);
    // the resumed run wrote that restart file again, whole: the half one is gone from the prefix
    expect((await getBytes(admin, BUCKET, `torn/${name}`)).equals(restartFileBytes(CASE, RANKS, step, KIB))).toBe(true);
    await expectWhole('torn', ledger);
  });

  it('a row already complete: 0 at once, the solver not run, nothing written', async () => {
    const ledger = join(tempDir('pre-ledger'), 'steps');
    const before = await listAll(admin, BUCKET, 'term/');
    const r = await attempt('term', ledger);
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(r.all).toContain('nothing to do (--rerun runs the row again)');
    expect(readStepLedger(ledger)).toEqual([]);
    expect(await listAll(admin, BUCKET, 'term/')).toEqual(before);
  });

  it('another row on the prefix while a run holds it: 75 at once, naming it', async () => {
    await putBytes(admin, BUCKET, 'in/other.txt', 'x');
    const ledger = join(tempDir('pre-ledger'), 'steps');
    const first = attempt('busy', ledger);
    await until('the lease', async () => (await listAll(admin, BUCKET, 'busy/')).has('busy/_ferry.lease'));
    const dir = tempDir('pre-other');
    mkdirSync(join(dir, 'x'));
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/other.txt`];
    args.push('--output', `s3://${BUCKET}/busy/`, '--no-mpi', '--', 'true');
    const other = await ferry(args, { cwd: dir, env: cleanEnv({ FERRY_LEASE_TTL_SECONDS: '8' }) });
    first.kill('SIGTERM');
    await first;
    expect(other.exitCode, other.all).toBe(75);
    expect(other.stderr).toContain('another row');
  });
});
