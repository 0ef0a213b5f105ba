import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, putBytes } from '../helpers/s3.ts';

// What the solver prints, relayed (long lines in pieces, a UTF-8 character split across two reads),
// and a solver that cannot be started.
const BUCKET = bucketFor('ferry-solver');
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

describe('the solver', () => {
  it('--log-format json: a 200,000-character line comes in pieces of at most 64 KiB, marked', async () => {
    const py = "import sys\nsys.stdout.write('A' * 200000 + '\\n'); sys.stdout.flush()";
    const { dir, run } = row('lines', ['python3', '-c', py], ['--log-format', 'json', '--keep']);
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.level === 'solver');
    const pieces = events.filter((e) => e.line.startsWith('A'));
    expect(pieces.length).toBe(4);
    expect(pieces.map((e) => e.continued === true)).toEqual([false, true, true, true]);
    expect(pieces.every((e) => e.line.length <= 64 * 1024)).toBe(true);
    expect(pieces.map((e) => e.line).join('')).toBe('A'.repeat(200000));
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).toContain(`${'A'.repeat(200000)}\n`);
  });

  it('a UTF-8 character split across two reads stays whole', async () => {
    // The solver writes 100 'A's, 'caf' and the first byte of 'é' in one write, then waits for a gate.
    // Once ferry shows the unfinished line (it does after 200 ms, minus the characters it holds back
    // in case a secret is arriving), it has taken in that byte alone; then the gate opens and the
    // second byte comes in a read of its own.
    const gate = join(tempDir('gate'), 'open');
    const py = [
      'import os, sys, time',
      "sys.stdout.buffer.write(b'A' * 100 + b'caf\\xc3'); sys.stdout.flush()",
      'for _ in range(6000):',
      `    if os.path.exists('${gate}'): break`,
      '    time.sleep(0.01)',
      "sys.stdout.buffer.write(b'\\xa9\\n'); sys.stdout.flush()",
    ].join('\n');
    const dir = tempDir('split');
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--keep', '--input', `s3://${BUCKET}/in/params.txt`];
    const p = startFerry([...args, '--output', `s3://${BUCKET}/split/`, '--no-mpi', '--', 'python3', '-c', py], {
      cwd: dir,
    });
    await waitFor('the unfinished line shown', () => p.output().includes('A'.repeat(60)), { alive: p.running });
    writeFileSync(gate, '');
    const r = await p.result;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`${'A'.repeat(100)}café`);
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).toContain(`${'A'.repeat(100)}café\n`);
    expect(r.all).not.toContain('\ufffd');
  });

  it('a solver whose #! interpreter does not exist: a clear message and exit 126', async () => {
    const dir = tempDir('interp');
    writeAwsConfig(dir, s3);
    writeFileSync(join(dir, 'run.sh'), '#!/nonexistent/interpreter\necho never\n');
    chmodSync(join(dir, 'run.sh'), 0o755);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--input',
        `s3://${BUCKET}/in/params.txt`,
        '--output',
        `s3://${BUCKET}/interp/`,
        '--no-mpi',
        '--',
        './run.sh',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(126);
    expect(r.stderr).toContain(
      './run.sh could not be started (ENOENT): the program or the interpreter on its #! line does not exist',
    );
    const m = await manifest('interp/');
    expect(m).toMatchObject({
      status: 'solver-failed',
      solver: { exit_code: null, start_error: expect.stringContaining('#!') },
    });
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'run.sh']);
  });
});
