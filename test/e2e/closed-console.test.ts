// A console that goes away: `ferry run … | head -3`, or a platform's log pipe that closes. The run
// goes on (ferry.log keeps every line), uploads, writes its manifest and _SUCCESS, wipes, and exits as
// it would have; no lease or lock is left behind.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const BUCKET = bucketFor('ferry-closed-console');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p\n');
});
afterAll(() => admin.destroy());

// 40 lines on stdout, 40 on stderr, a little apart, then a result file.
const SOLVER =
  'for i in $(seq 1 40); do echo "out line $i"; echo "err line $i" >&2; sleep 0.02; done; echo done > result.txt';

/** ferry run with `which` (stdout or stderr) into a pipe this test closes after 3 lines; the other kept. */
async function runWithClosed(which: 'stdout' | 'stderr', out: string) {
  const dir = tempDir(`closed-${which}`);
  writeAwsConfig(dir, s3);
  const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`];
  const child = spawn(FERRY, [...args, '--output', `s3://${BUCKET}/${out}/`, '--no-mpi', '--', 'sh', '-c', SOLVER], {
    cwd: dir,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closing = child[which];
  const other = which === 'stdout' ? child.stderr : child.stdout;
  let kept = '';
  other.on('data', (b: Buffer) => (kept += b.toString()));
  const seen: string[] = [];
  const lines = createInterface({ input: closing });
  await new Promise<void>((resolve) => {
    lines.on('line', (l) => {
      seen.push(l);
      if (seen.length === 3) {
        lines.close();
        closing.destroy(); // as head -3 does: the read end goes away
        resolve();
      }
    });
    closing.on('end', () => resolve());
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { dir, code, seen, kept };
}

describe('a console closed early (EPIPE)', () => {
  it.each(['stdout', 'stderr'] as const)('%s closed after 3 lines: the run completes, exit 0', async (which) => {
    const out = `closed-${which}`;
    const r = await runWithClosed(which, out);
    expect(r.seen).toHaveLength(3);
    expect(r.code, r.kept).toBe(0);
    const log = readFileSync(join(r.dir, 'ferry.log'), 'utf8');
    expect(log).toContain('out line 40');
    expect(log).toContain('err line 40');
    expect(log).toMatch(/summary: /);
    const keys = [...(await listAll(admin, BUCKET, `${out}/`)).keys()].sort();
    expect(keys).toEqual([`${out}/_SUCCESS`, `${out}/_ferry.log`, `${out}/_manifest.json`, `${out}/result.txt`]);
    expect((await getBytes(admin, BUCKET, `${out}/result.txt`)).toString()).toBe('done\n');
    const m = JSON.parse((await getBytes(admin, BUCKET, `${out}/_manifest.json`)).toString());
    expect(m.status).toBe('complete');
    // wiped as usual: the output and the input are gone, the log stays; no lock
    expect(existsSync(join(r.dir, 'result.txt'))).toBe(false);
    expect(existsSync(join(r.dir, '.ferry-lock'))).toBe(false);
    expect(existsSync(join(r.dir, 'ferry.log'))).toBe(true);
  });
});
