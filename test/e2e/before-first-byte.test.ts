import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ferry, startFerry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, listAll, putBytes } from '../helpers/s3.ts';

// What goes on before the input's first byte, proven from the requests through a front of ours: the
// archive's central directory is read (and where every entry lands checked) beside the prefix's
// lease, the input is looked at once, and nothing of it reaches the run directory before the lease
// is this run's.
const BUCKET = bucketFor('ferry-first-byte');
const s3 = inject('s3');
const admin = adminClient(s3);
const ZIP = 'in/case.zip';

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, ZIP, readFileSync(zipCase('hsdi', tempDir('zip'))));
});
afterAll(() => admin.destroy());

const runArgs = (front: string, out: string, solver: string) => [
  ...['run', '--aws-config', 'config', '--endpoint', front, '--input', `s3://${BUCKET}/${ZIP}`],
  ...['--output', `s3://${BUCKET}/${out}/`, '--no-mpi', '--', 'sh', '-c', solver],
];
/** What is in the run directory besides what the test and ferry put there themselves. */
const extracted = (dir: string) =>
  readdirSync(dir).filter((n) => n !== 'config' && !n.startsWith('ferry') && !n.startsWith('.ferry'));

describe('before the first byte of the input', () => {
  it('its central directory is read while the lease is taken; one HEAD; nothing extracted before it', async () => {
    const dir = tempDir('first-byte');
    writeAwsConfig(dir, s3);
    const front = await startRecorder(s3.endpoint);
    try {
      const lease = front.hold((q) => q.method === 'PUT' && q.path.startsWith(`/${BUCKET}/row/_ferry.lease`));
      const run = startFerry(runArgs(front.url, 'row', 'ls > listing.txt'), { cwd: dir });
      await lease.wait(run.running);
      const zipGet = (n: number) =>
        front.requests.filter((q) => q.method === 'GET' && q.path.startsWith(`/${BUCKET}/${ZIP}`)).length >= n;
      // The end of the archive, which holds this small one's central directory: read while the lease waits.
      for (const end = Date.now() + 10_000; !zipGet(1) && Date.now() < end;)
        await new Promise((r) => setTimeout(r, 20));
      expect(zipGet(1), front.requests.map((q) => `${q.method} ${q.path}`).join('\n')).toBe(true);
      expect(extracted(dir)).toEqual([]);
      lease.release();
      const r = await run.result;
      expect(r.exitCode, r.all).toBe(0);
      const heads = front.requests.filter((q) => q.method === 'HEAD' && q.path.startsWith(`/${BUCKET}/${ZIP}`));
      expect(heads.length).toBe(1);
      const keys = [...(await listAll(admin, BUCKET, 'row/')).keys()];
      expect(keys).toContain('row/_SUCCESS');
      expect(keys).toContain('row/listing.txt');
    } finally {
      await front.close();
    }
  });

  it("another row's live lease: 75, and not one entry of the archive in the run directory", async () => {
    await putBytes(
      admin,
      BUCKET,
      'busy/_ferry.lease',
      JSON.stringify({
        run_id: 'other-run',
        attempt: 'other-attempt',
        row: 'another-row',
        host: 'node-9',
        pid: 99,
        ferry: 'ferry 0.1.0',
        started_at: new Date().toISOString(),
        heartbeat_at: new Date().toISOString(),
      }),
    );
    const dir = tempDir('busy');
    writeAwsConfig(dir, s3);
    const front = await startRecorder(s3.endpoint);
    try {
      const r = await ferry(runArgs(front.url, 'busy', 'touch ran.txt'), { cwd: dir });
      expect(r.exitCode, r.all).toBe(75);
      expect(r.stderr).toContain('run other-run on node-9');
      expect(extracted(dir)).toEqual([]);
      expect(readdirSync(join(dir))).not.toContain('ran.txt');
    } finally {
      await front.close();
    }
  });
});
