import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, putBytes } from '../helpers/s3.ts';

// What the solver prints, relayed (long lines in pieces, a UTF-8 character split across two reads),
// and a solver that cannot be started.
const BUCKET = 'ferry-solver';
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
  it(
    '--log-format json: a 200,000-character line comes in pieces of at most 64 KiB, marked; a UTF-8 character split ' +
      'across two reads stays whole',
    async () => {
      // After 'caf' and the first byte of 'é', the solver waits until ferry has read them (its stdout
      // pipe empty: FIONREAD 0) and notes that it saw that, then writes the second byte.
      const py = [
        'import array, fcntl, sys, termios, time',
        "sys.stdout.write('A' * 200000 + '\\n'); sys.stdout.flush()",
        "sys.stdout.buffer.write(b'caf\\xc3'); sys.stdout.flush()",
        "left = array.array('i', [1])",
        'for _ in range(3000):',
        '    fcntl.ioctl(1, termios.FIONREAD, left)',
        '    if left[0] == 0: break',
        '    time.sleep(0.01)',
        "open('split-seen', 'w').write(str(left[0]))",
        "sys.stdout.buffer.write(b'\\xa9\\n'); sys.stdout.flush()",
      ].join('\n');
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
      expect(readFileSync(join(dir, 'split-seen'), 'utf8'), 'ferry read the first byte of é alone').toBe('0');
      expect(events.map((e) => e.line)).toContain('café');
      const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
      expect(log).toContain(`${'A'.repeat(200000)}\ncafé\n`);
    },
  );

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
