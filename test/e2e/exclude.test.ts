// Files the run must not upload: a monitor file that something outside the run keeps growing in the
// run directory, and a solver's scratch logs. Without --exclude the run is incomplete (73) and says
// which flag leaves them out (a re-run cannot help); with it they are never sent, not in the
// manifest, and kept in the run directory; everything else goes up and is wiped as usual.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const s3 = inject('s3');
const admin = adminClient(s3);
const BUCKET = bucketFor('ferry-exclude');
const solver = ['sh', '-c', 'sleep 1; mkdir -p logs res && echo scratch > logs/a.log && echo result > res/r.txt'];

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

/** A run with a monitor outside the run appending to monitor.log all along; what it printed, the monitor's bytes. */
async function runWithMonitor(out: string, extra: string[]) {
  const dir = tempDir('exclude');
  writeAwsConfig(dir, s3);
  const monitor = spawn('sh', ['-c', 'sleep 0.5; while :; do echo tick >> monitor.log; done'], {
    cwd: dir,
    stdio: 'ignore',
  });
  try {
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`];
    args.push('--output', `s3://${BUCKET}/${out}/`, '--no-mpi', ...extra, '--', ...solver);
    const r = await ferry(args, { cwd: dir, env: cleanEnv() });
    return { dir, r };
  } finally {
    monitor.kill('SIGKILL');
  }
}

describe('--exclude GLOB: files the run must not upload', () => {
  it('a file something outside the run keeps writing: 73, and the hint names --exclude, not a re-run', async () => {
    const { dir, r } = await runWithMonitor('plain', []);
    expect(r.exitCode, r.all).toBe(73);
    expect(r.stderr).toContain('kept changing after the solver and its processes ended');
    expect(r.stderr).toContain('--exclude monitor.log');
    expect(r.stderr).not.toContain('Re-run the same row');
    // nothing deleted but the credentials file (it goes whatever the status: test/e2e/credential-files.test.ts)
    expect(r.stderr).toContain('deleted ./config (--aws-config): it holds a secret');
    expect(existsSync(join(dir, 'config'))).toBe(false);
    expect(readFileSync(join(dir, 'res/r.txt'), 'utf8')).toBe('result\n');
    expect(readFileSync(join(dir, 'logs/a.log'), 'utf8')).toBe('scratch\n');
    expect(readFileSync(join(dir, 'params.txt'), 'utf8')).toBe('p=1\n');
    expect(readFileSync(join(dir, 'monitor.log'), 'utf8')).toMatch(/^(tick\n)+$/);
    const top = ['.ferry-state.json', 'ferry.log', 'logs', 'monitor.log', 'params.txt', 'res'];
    expect(readdirSync(dir).sort()).toEqual(top);
  });

  it('--exclude monitor.log --exclude "logs/**": 0, never sent, not in the manifest, kept; rest wiped', async () => {
    const { dir, r } = await runWithMonitor('excluded', ['--exclude', 'monitor.log', '--exclude', 'logs/**']);
    expect(r.exitCode, r.all).toBe(0);
    const keys = [...(await listAll(admin, BUCKET, 'excluded/')).keys()];
    expect(keys).toContain('excluded/_SUCCESS');
    expect(keys).toContain('excluded/res/r.txt');
    expect(keys.filter((k) => /monitor\.log|logs\//.test(k))).toEqual([]);
    const m = JSON.parse((await getBytes(admin, BUCKET, 'excluded/_manifest.json')).toString());
    expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(['res/r.txt']);
    expect(m.not_uploaded).toEqual([]);
    // ledger: every byte is somewhere: excluded files on disk, the result in S3 (wiped here)
    expect(readFileSync(join(dir, 'logs/a.log'), 'utf8')).toBe('scratch\n');
    expect(readFileSync(join(dir, 'monitor.log'), 'utf8')).toMatch(/^(tick\n)+$/);
    expect((await getBytes(admin, BUCKET, 'excluded/res/r.txt')).toString()).toBe('result\n');
    expect(existsSync(join(dir, 'res/r.txt'))).toBe(false);
  });

  it('a bad glob is a usage error (64) before anything runs', async () => {
    const dir = tempDir('exclude-bad');
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`];
    args.push('--output', `s3://${BUCKET}/bad/`, '--no-mpi', '--exclude', 'a/[b', '--', 'true');
    const r = await ferry(args, { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('--exclude');
    expect((await listAll(admin, BUCKET, 'bad/')).size).toBe(0);
  });
});
