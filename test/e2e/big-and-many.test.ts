import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// Outputs of any size and many small ones: parts grow past S3's part limit (lowered here with
// FERRY_TEST_MAX_PARTS), small files take a lane of their own, each costs one PUT, checks are batched.
const BUCKET = 'ferry-big-many';
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

describe('ferry put DIR (2,000 small files) s3://…/many/', () => {
  it('stores every one with its size and ETag, with one PUT each and batched verification', async () => {
    const dir = tempDir('many');
    const want = new Map<string, Buffer>();
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(dir, `rank_${d}`));
      for (let f = 0; f < 100; f++) {
        const body = Buffer.alloc(10_000 + ((d * 100 + f) % 97), `${d}:${f};`);
        const rel = `rank_${d}/species_${f}.out`;
        writeFileSync(join(dir, rel), body);
        want.set(`many/${rel}`, body);
      }
    }
    const proxy = await startFaultProxy(s3.endpoint, () => 'pass');
    try {
      const r = await ferry(['put', '--aws-config', config, '--endpoint', proxy.url, dir, `s3://${BUCKET}/many/`], {
        env: cleanEnv(),
      });
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).not.toContain('Warning'); // e.g. Node's MaxListenersExceededWarning, with dozens in flight
      const puts = proxy.requests.filter((q) => q.method === 'PUT');
      expect(puts).toHaveLength(2000);
      const others = proxy.requests.filter((q) => q.method !== 'PUT');
      // Unbatched, verification would be 2,000 HEADs. How many files one listing confirms depends on
      // how many finished while the previous listing ran (timing), so the bound is one per ten files.
      expect(others.length, others.map((q) => `${q.method} ${q.path}`).join('\n')).toBeLessThan(200);
    } finally {
      await proxy.close();
    }
    const got = await listed('many/');
    expect(got.size).toBe(2000);
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
    const proxy = await startFaultProxy(s3.endpoint, () => 'pass');
    try {
      const again = await ferry([...args.slice(0, 3), '--endpoint', proxy.url, ...args.slice(3)], { env });
      expect(again.exitCode, again.all).toBe(0);
      expect(proxy.requests.filter((q) => q.method === 'PUT' || q.method === 'POST')).toEqual([]);
    } finally {
      await proxy.close();
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
