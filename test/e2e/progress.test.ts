import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execa } from 'execa';
import { cleanEnv, FERRY, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, putBytes } from '../helpers/s3.ts';

const BUCKET = bucketFor('ferry-progress');
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
  it('on a terminal (script gives ferry a pseudo-TTY) a status line with a bar is drawn and redrawn', async () => {
    // Through a front of ours that holds one of the three 8 MiB ranges: the line must show the
    // download part-way (16 of 24 MiB) and be redrawn as it moves on.
    const front = await startRecorder(s3.endpoint);
    const held = front.hold((q) => q.method === 'GET' && /\/in\/mesh\.bin/.test(q.path));
    try {
      const dir = tempDir('tty');
      const cmd = [FERRY, 'get', '--aws-config', config, '--endpoint', front.url, `s3://${BUCKET}/in/mesh.bin`]
        .concat(`${dir}/out`)
        .map((a) => `'${a}'`)
        .join(' ');
      const tty = execa('script', ['-qec', cmd, '/dev/null'], { env: cleanEnv(), extendEnv: false, reject: false });
      let out = '';
      tty.stdout.on('data', (b: Buffer) => (out += b.toString()));
      let running = true;
      void tty.finally(() => (running = false));
      await held.wait(() => running);
      const partWay = /\[[#-]{20}\] download 16\.0 MiB of 24\.0 MiB/;
      await waitFor('the line drawn part-way', () => partWay.test(out), { alive: () => running });
      held.release();
      const r = await tty;
      expect(r.exitCode, out).toBe(0);
      const frames = out.split('\r\x1b[2K').filter((f) => /download /.test(f));
      const shown = frames.map((f) => /download (\S+ \S+) of 24\.0 MiB/.exec(f)?.[1]);
      expect(new Set(shown).size, `frames: ${shown.join(', ')}`).toBeGreaterThanOrEqual(2);
      expect(shown).toContain('16.0 MiB');
      expect(out).toContain('input ready');
    } finally {
      held.release();
      await front.close();
    }
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
