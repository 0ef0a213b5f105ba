import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

const BUCKET = bucketFor('ferry-get-put');
const s3 = inject('s3');
const admin = adminClient(s3);
const env = cleanEnv();
let config: string;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  config = writeAwsConfig(tempDir('cfg'), s3);
});
afterAll(() => admin.destroy());

function walk(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(dir, join(base, e.name)) : [join(base, e.name)]))
    .sort();
}

describe('ferry get', () => {
  it('ferry get s3://bucket/case.zip DIR extracts the zip into DIR (byte-equal to the case folder)', async () => {
    await putBytes(admin, BUCKET, 'in/hsdi.zip', readFileSync(zipCase('hsdi', tempDir('zips'))));
    const dir = tempDir('get-zip');
    const r = await ferry(['get', '--aws-config', config, `s3://${BUCKET}/in/hsdi.zip`, dir], { env });
    expect(r.exitCode, r.all).toBe(0);
    const src = join(process.cwd(), 'fixtures/cases/hsdi');
    expect(walk(dir)).toEqual(walk(src));
    for (const f of walk(src)) expect(readFileSync(join(dir, f)).equals(readFileSync(join(src, f))), f).toBe(true);
  });

  it(
    'ferry get s3://bucket/key DIR saves a plain object as DIR/<last part of the key>, multipart-sized ' + 'too',
    async () => {
      const big = Buffer.alloc(21 * 1024 * 1024 + 17);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
      await putBytes(admin, BUCKET, 'in/mesh/big.bin', big);
      const dir = tempDir('get-obj');
      const r = await ferry(
        ['get', '--aws-config', config, '--part-size', '5MiB', `s3://${BUCKET}/in/mesh/big.bin`, dir],
        { env },
      );
      expect(r.exitCode, r.all).toBe(0);
      expect(readdirSync(dir)).toEqual(['big.bin']);
      expect(readFileSync(join(dir, 'big.bin')).equals(big)).toBe(true);
    },
  );

  it('ferry get s3://bucket/prefix/ DIR keeps relative paths', async () => {
    await putBytes(admin, BUCKET, 'tree/a.txt', 'A');
    await putBytes(admin, BUCKET, 'tree/sub/b.txt', 'BB');
    await putBytes(admin, BUCKET, 'tree/cases/deep/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
    const dir = tempDir('get-prefix');
    const r = await ferry(['get', '--aws-config', config, `s3://${BUCKET}/tree/`, dir], { env });
    expect(r.exitCode, r.all).toBe(0);
    expect(walk(dir)).toEqual([
      'a.txt',
      'cases/deep/inputs.in',
      'cases/deep/spray.in',
      'cases/deep/surface.dat',
      'sub/b.txt',
    ]);
    expect(readFileSync(join(dir, 'sub/b.txt'), 'utf8')).toBe('BB');
  });

  it('a key that is really a prefix: exit 66 suggesting the trailing slash', async () => {
    await putBytes(admin, BUCKET, 'noslash/a.txt', 'A');
    await putBytes(admin, BUCKET, 'noslash/sub/b.txt', 'BB');
    const r = await ferry(['get', '--aws-config', config, `s3://${BUCKET}/noslash`, tempDir('get-noslash')], { env });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain("2 objects start with 'noslash/': add a trailing /");
  });
});

describe('ferry put', () => {
  it('ferry put DIR s3://bucket/prefix/ uploads DIR/a/b to prefix/a/b, verified, including multipart', async () => {
    const dir = tempDir('put');
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a/b.txt'), 'bee');
    writeFileSync(join(dir, 'empty.dat'), '');
    const big = Buffer.alloc(13 * 1024 * 1024 + 5, 7);
    big.write('head', 0);
    writeFileSync(join(dir, 'big.bin'), big);
    await emptyPrefix(admin, BUCKET, 'put/');
    const r = await ferry(['put', '--aws-config', config, '--part-size', '5MiB', dir, `s3://${BUCKET}/put`], { env });
    expect(r.exitCode, r.all).toBe(0);
    const listed = await listAll(admin, BUCKET, 'put/');
    expect([...listed.keys()].sort()).toEqual(['put/a/b.txt', 'put/big.bin', 'put/empty.dat']);
    expect((await getBytes(admin, BUCKET, 'put/a/b.txt')).toString()).toBe('bee');
    expect((await getBytes(admin, BUCKET, 'put/empty.dat')).length).toBe(0);
    expect((await getBytes(admin, BUCKET, 'put/big.bin')).equals(big)).toBe(true);
  });

  it('small files after the first go up as direct PUTs (no SDK stack): all taken, byte-equal, odd names', async () => {
    const dir = tempDir('put-direct');
    const names = ['a b/c+d(1)/é ü*!.txt', "a b/q?x=1&y=it's.txt", '%41 50%.txt', 'deep/~tilde/[x]{y}#z.log'];
    for (let i = 0; i < 56; i++) names.push(`logs/log_${String(i).padStart(3, '0')}.txt`);
    const bodies = new Map(names.map((n, i) => [n, Buffer.from(`${n}\n`.repeat(1 + ((i * 37) % 300)))]));
    for (const [n, b] of bodies) {
      mkdirSync(join(dir, n, '..'), { recursive: true });
      writeFileSync(join(dir, n), b);
    }
    await emptyPrefix(admin, BUCKET, 'direct/');
    const rec = await startRecorder(s3.endpoint);
    const args = ['put', '--aws-config', config, '--endpoint', rec.url, '--small-concurrency', '4'];
    const r = await ferry([...args, dir, `s3://${BUCKET}/direct/`], { env }).finally(() => rec.close());
    expect(r.exitCode, r.all).toBe(0);
    const puts = rec.requests.filter((q) => q.method === 'PUT');
    const direct = puts.filter((q) => !q.sdk);
    // While the first small PUTs (one per lane slot at most) teach ferry the bucket's request shape.
    expect(direct.length, `${puts.length} PUTs`).toBeGreaterThanOrEqual(names.length - 8);
    expect(direct.map((q) => q.status).filter((s) => s !== 200)).toEqual([]); // none refused, none sent again
    expect(puts.length).toBe(names.length);
    const listed = await listAll(admin, BUCKET, 'direct/');
    expect([...listed.keys()].sort()).toEqual(names.map((n) => `direct/${n}`).sort());
    for (const [n, b] of bodies) {
      expect((await getBytes(admin, BUCKET, `direct/${n}`)).equals(b), n).toBe(true);
      expect(listed.get(`direct/${n}`), n).toBe(b.length);
    }
  });

  it('ferry put into a missing bucket: exit 66 naming the bucket', async () => {
    const dir = tempDir('put-nobucket');
    writeFileSync(join(dir, 'x'), 'x');
    const r = await ferry(['put', '--aws-config', config, dir, 's3://no-such-bucket-ferry/out/'], { env });
    expect(r.exitCode).toBe(66);
    expect(r.stderr).toContain('s3://no-such-bucket-ferry/out/');
    expect(r.stderr).toContain('bucket does not exist');
  });

  it('an endpoint nobody listens on: exit 69', async () => {
    const dir = tempDir('put-dead');
    writeFileSync(join(dir, 'x'), 'x');
    const r = await ferry(
      ['put', '--aws-config', config, '--endpoint', 'http://127.0.0.1:9', '--retries', '2', dir, `s3://${BUCKET}/out/`],
      { env },
    );
    expect(r.exitCode, r.all).toBe(69);
  });
});
