import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { lostFiles } from '../helpers/ledger.ts';
import { isWrite, startRecorder, type Recorded, type Recorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// What the README promises about _SUCCESS across attempts, proven from the requests through a front of
// ours and from the store while ferry waits: a re-run withdraws the old _SUCCESS before it sends
// anything, and a file that changes between the final check and its unlink stays and costs the
// prefix its _SUCCESS.
const BUCKET = bucketFor('ferry-re-run');
const s3 = inject('s3');
const admin = adminClient(s3);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

const runArgs = (front: string, out: string, solver: string, extra: string[] = []) => [
  ...['run', '--aws-config', 'config', '--endpoint', front, ...extra, '--input', `s3://${BUCKET}/in/params.txt`],
  ...['--output', `s3://${BUCKET}/${out}/`, '--no-mpi', '--', 'sh', '-c', solver],
];
const keysOf = async (out: string) => [...(await listAll(admin, BUCKET, `${out}/`)).keys()].sort();
/** The writes under a prefix, as "METHOD key". */
const writesUnder = (rec: Recorder, out: string, after = -1) =>
  rec.requests
    .filter((q) => isWrite(q) && q.seq > after && q.path.startsWith(`/${BUCKET}/${out}/`))
    .map((q) => `${q.method} ${q.path.split('?')[0].slice(`/${BUCKET}/${out}/`.length)}`);

describe('re-running a row in the same run directory', () => {
  it('withdraws the old _SUCCESS before it sends anything, sends only what changed, writes _SUCCESS last', async () => {
    const dir = tempDir('re-run');
    writeAwsConfig(dir, s3);
    const front = await startRecorder(s3.endpoint);
    try {
      const first = await ferry(runArgs(front.url, 'row', 'echo v1 > result.txt; echo same > kept.txt', ['--keep']), {
        cwd: dir,
      });
      expect(first.exitCode, first.all).toBe(0);
      expect(await keysOf('row')).toContain('row/_SUCCESS');
      // The re-run changes result.txt. Its upload is held: while it waits, the prefix must not claim complete.
      const begun = front.mark();
      const held = front.hold((q) => q.method === 'PUT' && q.path.startsWith(`/${BUCKET}/row/result.txt`));
      const again = startFerry(runArgs(front.url, 'row', 'echo v2 > result.txt'), { cwd: dir });
      await held.wait(again.running);
      const during = await keysOf('row');
      held.release();
      const r = await again.result;
      expect(r.exitCode, r.all).toBe(0);
      expect(during).not.toContain('row/_SUCCESS');
      expect(r.stderr).toContain(`withdrew s3://${BUCKET}/row/_SUCCESS until this run completes`);
      // From the requests: the withdrawal first, then only the changed file (and the journal segment
      // recording it, for a later attempt), the manifest, the log, the journal gone once the complete
      // manifest holds it all, _SUCCESS, and the lease taken away.
      const writes = writesUnder(front, 'row', begun)
        .filter((w) => !w.endsWith('_ferry.lease'))
        .map((w) => w.replace(/_ferry\.journal\/[^/]+\/\d+\.json$/, '_ferry.journal/SEGMENT'));
      expect(writes).toEqual([
        'DELETE _SUCCESS',
        'PUT result.txt',
        'PUT _ferry.journal/SEGMENT',
        'PUT _manifest.json',
        'PUT _ferry.log',
        'DELETE _ferry.journal/SEGMENT',
        'PUT _SUCCESS',
      ]);
      expect((await getBytes(admin, BUCKET, 'row/result.txt')).toString()).toBe('v2\n');
      const m = JSON.parse((await getBytes(admin, BUCKET, 'row/_manifest.json')).toString());
      expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(['kept.txt', 'result.txt']);
    } finally {
      await front.close();
    }
  });

  it('ferry put into a prefix with an old _SUCCESS withdraws it before the first upload', async () => {
    await putBytes(admin, BUCKET, 'put/_SUCCESS', '');
    const dir = tempDir('put');
    mkdirSync(join(dir, 'up'));
    writeFileSync(join(dir, 'up/a.txt'), 'a');
    const cfg = writeAwsConfig(tempDir('cfg'), s3);
    const front = await startRecorder(s3.endpoint);
    try {
      const r = await ferry([
        'put',
        '--aws-config',
        cfg,
        '--endpoint',
        front.url,
        join(dir, 'up'),
        `s3://${BUCKET}/put/`,
      ]);
      expect(r.exitCode, r.all).toBe(0);
      expect(writesUnder(front, 'put')).toEqual(['DELETE _SUCCESS', 'PUT a.txt']);
      expect(await keysOf('put')).toEqual(['put/a.txt']);
    } finally {
      await front.close();
    }
  });
});

describe('a file that changes between the final check and its unlink', () => {
  it('stays, with its new bytes; _SUCCESS is withdrawn, the manifest says incomplete; exit 73', async () => {
    const dir = tempDir('wipe-race');
    writeAwsConfig(dir, s3);
    const front = await startRecorder(s3.endpoint);
    try {
      // _SUCCESS is written after the wipe was planned and before it runs: held there, the test
      // changes an output that was verified (so planned for deletion).
      const held = front.hold((q: Recorded) => q.method === 'PUT' && q.path.startsWith(`/${BUCKET}/race/_SUCCESS`));
      const solver = 'echo v1 > result.txt; echo other > other.txt';
      const run = startFerry(runArgs(front.url, 'race', solver), { cwd: dir });
      await held.wait(run.running);
      writeFileSync(join(dir, 'result.txt'), 'v2, written while the wipe was on its way\n');
      held.release();
      const r = await run.result;
      expect(r.exitCode, r.all).toBe(73);
      expect(r.stderr).toContain('1 file(s) changed after the final check and were kept: result.txt');
      expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('v2, written while the wipe was on its way\n');
      expect(existsSync(join(dir, 'other.txt'))).toBe(false); // unchanged: verified in S3, deleted
      expect(await keysOf('race')).not.toContain('race/_SUCCESS');
      const m = JSON.parse((await getBytes(admin, BUCKET, 'race/_manifest.json')).toString());
      expect(m.status).toBe('incomplete');
      expect(m.not_uploaded).toEqual([
        { path: 'result.txt', error: 'changed after its upload, right before the wipe' },
      ]);
      // Every byte written is somewhere: v1 and other.txt in S3, v2 on disk.
      const ledger = new Map([
        ['other.txt', sha('other\n')],
        ['result.txt', sha('v2, written while the wipe was on its way\n')],
      ]);
      expect(await lostFiles(ledger, dir, admin, BUCKET, 'race/')).toEqual([]);
      expect((await getBytes(admin, BUCKET, 'race/result.txt')).toString()).toBe('v1\n');
      // From the requests: after _SUCCESS, its withdrawal and the manifest rewritten.
      const at = (await held.arrived).seq;
      expect(writesUnder(front, 'race', at - 1)).toEqual([
        'PUT _SUCCESS',
        'DELETE _SUCCESS',
        'PUT _manifest.json',
        'PUT _ferry.log',
        'DELETE _ferry.lease',
      ]);
    } finally {
      await front.close();
    }
  });
});
