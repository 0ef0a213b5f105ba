import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UPLOADS_UNDER_WAY } from '../../agent/transfer/upload.ts';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { isWrite, startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// Outputs of any size and many small ones: parts grow past S3's part limit (lowered here with
// FERRY_TEST_MAX_PARTS), small files take a lane of their own, each costs one PUT, checks are batched.
const BUCKET = bucketFor('ferry-big-many');
const s3 = inject('s3');
const admin = adminClient(s3);
const MiB = 1024 * 1024;
let config: string;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  config = writeAwsConfig(tempDir('cfg'), s3);
});
afterAll(() => admin.destroy());

/** ETag and size of every object under a prefix, as the server lists them. */
async function listed(prefix: string): Promise<Map<string, { size: number; etag: string }>> {
  const out = new Map<string, { size: number; etag: string }>();
  let token: string | undefined;
  do {
    const r = await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) out.set(o.Key!, { size: o.Size!, etag: o.ETag!.replace(/"/g, '') });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** What the solver below writes: file i of n. */
const manyFile = (i: number) => ({
  rel: `rank_${Math.floor(i / 100)}/species_${i % 100}.out`,
  body: Buffer.alloc(10_000 + (i % 97), `${i};`),
});
const MANY_SOLVER =
  'import os, sys\nfor i in range(int(sys.argv[1])):\n  p = f"rank_{i // 100}/species_{i % 100}.out"\n' +
  '  os.makedirs(os.path.dirname(p), exist_ok=True)\n  b = f"{i};".encode()\n  n = 10000 + i % 97\n' +
  '  open(p, "wb").write((b * (n // len(b) + 1))[:n])\n';

describe(`ferry run with ${UPLOADS_UNDER_WAY} small outputs`, () => {
  it('stores each with its size and ETag, one PUT each; those done during a check are checked by listing', async () => {
    // As many files as ferry keeps under way (sending, or sent and waiting for their check): all of
    // them are sent while the first check is held at a front of ours.
    const n = UPLOADS_UNDER_WAY;
    const want = new Map(Array.from({ length: n }, (_, i) => manyFile(i)).map((f) => [`many/${f.rel}`, f.body]));
    await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
    const dir = tempDir('many');
    writeAwsConfig(dir, s3);
    const front = await startRecorder(s3.endpoint);
    try {
      // The first upload done is checked alone, with a HEAD: held until every PUT was answered, and
      // then until ferry has renewed its lease twice (1 s TTL): it has taken in every answer by then.
      const first = front.hold((q) => q.method === 'HEAD' && /^\/[^/]+\/many\/rank_/.test(q.path));
      const args = ['run', '--aws-config', 'config', '--endpoint', front.url, '--no-live-upload'];
      args.push('--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/many/`, '--no-mpi');
      const env = cleanEnv({ FERRY_LEASE_TTL_SECONDS: '1' });
      const run = startFerry([...args, '--', 'python3', '-c', MANY_SOLVER, String(n)], { cwd: dir, env });
      const held = await first.wait(run.running);
      const puts = () => front.requests.filter((q) => q.method === 'PUT' && !q.path.includes('/_ferry.lease'));
      await waitFor(`${n} PUTs answered`, () => puts().filter((q) => q.answered).length === n, { alive: run.running });
      const done = front.mark();
      const renewals = () =>
        front.requests.filter((q) => q.seq > done && q.path.split('?')[0].endsWith('/_ferry.lease')).length;
      const recent = () =>
        `${run.output()}\nrequests after the PUTs: ${JSON.stringify(front.requests.filter((q) => q.seq > done))}`;
      await waitFor('two lease renewals', () => renewals() >= 2, { alive: run.running, context: recent });
      first.release();
      const r = await run.result;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).not.toContain('Warning'); // e.g. Node's MaxListenersExceededWarning, with dozens in flight
      const sent = puts().filter((q) => /\/many\/rank_/.test(q.path));
      expect(sent.map((q) => q.path.split('?')[0]).sort()).toEqual(
        [...want.keys()].map((k) => `/${BUCKET}/${k}`).sort(),
      );
      // The other uploads all finished while that check ran: they are checked together, by listing
      // their keys (1,000 per request, the keys' common prefix), none with a HEAD of its own. (The
      // manifest's listing of the whole prefix and the whole-check before _SUCCESS list `many/`.)
      const checks = front.requests.filter(
        (q) =>
          q.seq > held.seq &&
          (/[?&]list-type=2.*prefix=many%2Frank_/.test(q.path) || (q.method === 'HEAD' && /\/rank_/.test(q.path))),
      );
      expect(checks.map((q) => (q.method === 'HEAD' ? `HEAD ${q.path}` : 'list'))).toEqual(['list', 'list']);
    } finally {
      await front.close();
    }
    const got = await listed('many/rank_');
    expect(got.size).toBe(n);
    for (const [key, body] of want) expect(got.get(key), key).toEqual({ size: body.length, etag: md5(body) });
  });
});

describe('a file past the part limit (FERRY_TEST_MAX_PARTS=4, --part-size 5MiB)', () => {
  const env = cleanEnv({ FERRY_TEST_MAX_PARTS: '4' });
  const big = Buffer.alloc(30 * MiB + 12345);
  for (let i = 0; i + 4 <= big.length; i += 4096) big.writeUInt32LE(i, i);

  it('grows its parts (8 MiB here): the object is whole and has 4 parts; a second put sends nothing', async () => {
    const dir = tempDir('parts');
    writeFileSync(join(dir, 'restart.bin'), big);
    const args = ['put', '--aws-config', config, '--part-size', '5MiB', dir, `s3://${BUCKET}/parts/`];
    const r = await ferry(args, { env });
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, 'parts/restart.bin')).equals(big)).toBe(true);
    expect((await listed('parts/')).get('parts/restart.bin')!.etag).toMatch(/-4$/);
    const rec = await startRecorder(s3.endpoint);
    try {
      const again = await ferry([...args.slice(0, 3), '--endpoint', rec.url, ...args.slice(3)], { env });
      expect(again.exitCode, again.all).toBe(0);
      expect(rec.requests.filter(isWrite)).toEqual([]);
    } finally {
      await rec.close();
    }
  });

  const tooBig =
    'ferry put: a part that cannot fit --memory → exit 64 before anything is sent, naming the --memory it needs';
  it(tooBig, async () => {
    await emptyPrefix(admin, BUCKET, 'nomem/');
    const dir = tempDir('nomem');
    writeFileSync(join(dir, 'a-small.txt'), 'small');
    writeFileSync(join(dir, 'restart.bin'), big);
    const r = await ferry(
      ['put', '--aws-config', config, '--part-size', '5MiB', '--memory', '6MiB', dir, `s3://${BUCKET}/nomem/`],
      { env },
    );
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('--memory 8MiB');
    expect(r.stderr).toContain('restart.bin');
    expect(await listAll(admin, BUCKET, 'nomem/')).toEqual(new Map());
  });

  it('ferry run: that file is not uploaded, stays in the run dir, is named in the manifest; exit 64', async () => {
    await emptyPrefix(admin, BUCKET, 'run-nomem/');
    await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
    const dir = tempDir('run-nomem');
    writeAwsConfig(dir, s3);
    writeFileSync(join(dir, 'make.sh'), `head -c ${big.length} /dev/zero > restart.bin; echo r > result.txt\n`);
    const run = ['run', '--aws-config', 'config', '--part-size', '5MiB', '--memory', '6MiB', '--no-mpi'];
    const where = ['--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/run-nomem/`];
    const r = await ferry([...run, ...where, '--', 'sh', 'make.sh'], { cwd: dir, env });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('--memory 8MiB');
    const m = JSON.parse((await getBytes(admin, BUCKET, 'run-nomem/_manifest.json')).toString());
    expect(m.status).toBe('incomplete');
    expect(m.not_uploaded.map((n: { path: string }) => n.path)).toEqual(['restart.bin']);
    expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(['result.txt']);
    expect(readdirSync(dir)).toContain('restart.bin');
  });
});
