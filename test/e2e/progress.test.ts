import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, putBytes } from '../helpers/s3.ts';

const BUCKET = 'ferry-progress';
const s3 = inject('s3');
const admin = adminClient(s3);
let config: string;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/mesh.bin', Buffer.alloc(24 * 1024 * 1024, 3));
  config = writeAwsConfig(tempDir('cfg'), s3);
});
afterAll(() => admin.destroy());

describe('progress and log formats', () => {
  it('on a terminal (script gives ferry a pseudo-TTY) a status line with a bar is drawn and redrawn', () => {
    const dir = tempDir('tty');
    const cmd = [FERRY, 'get', '--aws-config', config, `s3://${BUCKET}/in/mesh.bin`, `${dir}/out`]
      .map((a) => `'${a}'`)
      .join(' ');
    const out = execFileSync('script', ['-qec', cmd, '/dev/null'], { env: cleanEnv(), encoding: 'utf8' });
    expect(out).toContain('\r\x1b[2K');
    expect(out).toMatch(/\[[#-]{20}\] download /);
    expect(out).toContain('input ready');
  });

  it('without a terminal there are no carriage returns, only plain lines', async () => {
    const dir = tempDir('notty');
    const r = await ferry(['get', '--aws-config', config, `s3://${BUCKET}/in/mesh.bin`, `${dir}/out`], {
      env: cleanEnv(),
    });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).not.toContain('\r');
    expect(r.all).not.toContain('\x1b[');
  });

  it("--log-format json: every line of a whole run parses, with phases, bytes and the solver's lines", async () => {
    const dir = tempDir('json');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--log-format',
        'json',
        '--input',
        `s3://${BUCKET}/in/mesh.bin`,
        '--output',
        `s3://${BUCKET}/json/`,
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'echo solving; cp mesh.bin result.bin',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    const events = r.all
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.find((e) => e.level === 'solver' && e.line === 'solving')).toBeTruthy();
    const summary = events.find((e) => String(e.msg).startsWith('summary:'));
    expect(summary.status).toBe('complete');
    expect(summary.phases.find((p: { phase: string }) => p.phase === 'upload')).toMatchObject({
      files: 1,
      bytes: 24 * 1024 * 1024,
    });
  });

  it("--quiet keeps the solver's output and errors only", async () => {
    const dir = tempDir('quiet');
    writeAwsConfig(dir, s3);
    const r = await ferry(
      [
        'run',
        '--aws-config',
        'config',
        '--quiet',
        '--input',
        `s3://${BUCKET}/in/mesh.bin`,
        '--output',
        `s3://${BUCKET}/quiet/`,
        '--no-mpi',
        '--',
        'sh',
        '-c',
        'echo solver-says-hi',
      ],
      { cwd: dir, env: cleanEnv() },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all.trim()).toBe('solver-says-hi');
  });
});
