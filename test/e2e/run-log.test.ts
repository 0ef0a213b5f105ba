import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// ferry.log as a reader of a long run needs it: the time on every line, a heartbeat that says how the
// run stands, and the log so far in the output prefix while the solver still runs (doe status shows it).
const BUCKET = bucketFor('ferry-run-log');
const s3 = inject('s3');
const admin = adminClient(s3);
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

describe('ferry run with FERRY_HEARTBEAT_SECONDS=1 (a heartbeat a second)', () => {
  const dir = tempDir('run-log');
  let during = '';
  let status = { stdout: '', json: {} as Record<string, unknown> };
  let r: Awaited<ReturnType<typeof ferry>>;

  beforeAll(async () => {
    writeAwsConfig(dir, s3);
    copyFileSync(join(ROOT, 'fixtures/solver/live-writer.sh'), join(dir, 'live-writer.sh'));
    const gate = join(tempDir('gate'), 'open');
    const io = ['--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/doe/row/`];
    const args = [
      'run',
      '--aws-config',
      'config',
      ...io,
      '--settle',
      '0.5',
      '--no-mpi',
      '--',
      './live-writer.sh',
      gate,
    ];
    const run = startFerry(args, { cwd: dir, env: cleanEnv({ FERRY_HEARTBEAT_SECONDS: '1' }) });
    // The solver waits for the gate: a heartbeat counting both live uploads in the uploaded log came while it ran.
    const uploaded = async () => {
      if (!(await listAll(admin, BUCKET, 'doe/row/')).has('doe/row/_ferry.log')) return false;
      during = (await getBytes(admin, BUCKET, 'doe/row/_ferry.log')).toString();
      return /heartbeat: .*2 file\(s\), 11 B uploaded so far, the last (out\/early\.dat|scratch\.tmp) at /.test(during);
    };
    // (the gate opens whatever happens: a failed wait leaves no solver behind)
    await waitFor('a heartbeat in the uploaded _ferry.log while the solver waits', uploaded, {
      alive: run.running,
      everyMs: 200,
      context: () => `ferry so far:\n${run.output()}\nthe uploaded log:\n${during}`,
    }).catch(async (err) => {
      writeFileSync(gate, '');
      await run.result;
      throw err;
    });
    const st = await ferry(['doe', 'status', '--output', `s3://${BUCKET}/doe/`, '--aws-config', 'config'], {
      cwd: dir,
      env: cleanEnv(),
    });
    const js = await ferry(['doe', 'status', '--output', `s3://${BUCKET}/doe/`, '--aws-config', 'config', '--json'], {
      cwd: dir,
      env: cleanEnv(),
    });
    writeFileSync(gate, '');
    // (not every row is complete: doe status says so with 1; an error reading a row would be another code)
    expect(st.exitCode, st.all).toBe(1);
    expect(js.exitCode, js.all).toBe(1);
    status = { stdout: st.stdout, json: JSON.parse(js.stdout.split('\n')[0]) };
    r = await run.result;
  });

  it('finishes the row as always', () => {
    expect(r.exitCode, r.all).toBe(0);
  });

  it("puts the time at the start of every line of ferry.log: ferry's, the solver's, the per-file details", () => {
    const lines = readFileSync(join(dir, 'ferry.log'), 'utf8').trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(TIME);
    const bare = lines.map((l) => l.replace(TIME, ''));
    expect(bare[0]).toMatch(/^ferry: ferry \d+\.\d+\.\d+ \(/);
    expect(bare).toContain('live-writer done');
    expect(bare).toContain('ferry:   uploaded out/early.dat (3 bytes), verified');
  });

  it('logs each live upload once', () => {
    const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
    expect(log.split('uploaded out/early.dat (3 bytes), verified').length - 1).toBe(1);
    expect(log).not.toContain('live upload:');
  });

  it('heartbeats with the solver time, the uploads so far, the last one, the lease renewal; no rate', () => {
    const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
    const beats = log.split('\n').filter((l) => l.includes('ferry: heartbeat: '));
    expect(beats.length).toBeGreaterThan(0);
    const stamp = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
    const shape = new RegExp(
      `^${stamp} ferry: heartbeat: solver running for [\\d.]+ s; ` +
        `(no file uploaded yet|\\d+ file\\(s\\), [\\d.]+ (B|KiB) uploaded so far, the last \\S+ at ${stamp}); ` +
        `lease renewed at ${stamp}$`,
    );
    for (const b of beats) expect(b).toMatch(shape);
    expect(r.stderr).toContain('ferry: heartbeat: solver running for'); // on the console too, without the time
  });

  it('uploaded the log so far while the solver ran, every line timed; the final copy replaced it', async () => {
    for (const line of during.trimEnd().split('\n')) expect(line).toMatch(TIME);
    expect(during).not.toContain('live-writer done');
    const local = readFileSync(join(dir, 'ferry.log'), 'utf8');
    expect(local.startsWith(during)).toBe(true);
    const final = (await getBytes(admin, BUCKET, 'doe/row/_ferry.log')).toString();
    expect(final).toContain('live-writer done');
    expect(final).toMatch(/ferry: uploading this log to \S+ \(later lines stay in the local ferry.log only\)\n$/);
  });

  it('doe status shows the running row with its last heartbeat line', () => {
    expect(status.stdout).toContain('running rows, from the log each uploaded last:');
    expect(status.stdout).toMatch(/\n {2}row: \S+ ferry: heartbeat: solver running for .*, the last \S+ at /);
    expect(status.json).toMatchObject({ row: 'row', status: 'started' });
    expect(String(status.json.progress)).toMatch(/ferry: heartbeat: solver running for /);
  });
});
