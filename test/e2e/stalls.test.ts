import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, listAll, putBytes } from '../helpers/s3.ts';
import { startStallProxy, stallGetsOf } from '../helpers/stall-proxy.ts';

// Every byte has a deadline: a body that stops half-way is abandoned after --timeout seconds of
// silence and asked for again from the first byte not received; after --retries, a clear exit.
const BUCKET = bucketFor('ferry-stall');
const s3 = inject('s3');
const admin = adminClient(s3);
const big = Buffer.alloc(3 * 1024 * 1024 + 123);
for (let i = 0; i + 4 <= big.length; i += 4) big.writeUInt32LE(i, i);
let config: string;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/big.bin', big);
  config = writeAwsConfig(tempDir('cfg'), s3);
});
afterAll(() => admin.destroy());

const getsOfBig = (stall: (n: number) => boolean) => stallGetsOf(`/${BUCKET}/in/big.bin`, stall);

describe('ferry get through a server that sends headers and part of a body, then nothing', () => {
  it('resumes each stalled range from its last byte and completes, byte for byte', async () => {
    const proxy = await startStallProxy(
      s3.endpoint,
      getsOfBig((n) => n < 2),
      100_000,
    );
    try {
      const dir = tempDir('stall-ok');
      const r = await ferry(
        [
          'get',
          '--aws-config',
          config,
          '--endpoint',
          proxy.url,
          '--timeout',
          '2',
          '--retries',
          '3',
          '--part-size',
          '5MiB',
          `s3://${BUCKET}/in/big.bin`,
          dir,
        ],
        { env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(0);
      expect(proxy.counts['stall-body']).toBe(2);
      // The second and third GET ask only for what had not arrived (the object is one range).
      const starts = proxy.heads
        .filter((h) => h.startsWith('GET '))
        .map((h) => Number(/^range: bytes=(\d+)-/im.exec(h)?.[1]));
      expect(starts[0]).toBe(0);
      expect(starts.slice(1).every((s) => s > 0 && s < big.length)).toBe(true);
      expect(
        createHash('sha256')
          .update(readFileSync(join(dir, 'big.bin')))
          .digest('hex'),
      ).toBe(createHash('sha256').update(big).digest('hex'));
    } finally {
      await proxy.close();
    }
  });

  it('--timeout 2 --retries 2 when every body stalls: exit 69 naming the stall, no partial file left', async () => {
    const proxy = await startStallProxy(
      s3.endpoint,
      getsOfBig(() => true),
      100_000,
    );
    try {
      const dir = tempDir('stall-fail');
      const r = await ferry(
        [
          'get',
          '--aws-config',
          config,
          '--endpoint',
          proxy.url,
          '--timeout',
          '2',
          '--retries',
          '2',
          `s3://${BUCKET}/in/big.bin`,
          dir,
        ],
        { env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(69);
      expect(r.stderr).toMatch(/broke off .* 2 time\(s\)/);
      expect(proxy.counts['stall-body']).toBe(2);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('a zip whose ranged reads stall mid-body', () => {
  it('a big stored entry and the deflated ones around it resume and land byte for byte', async () => {
    const src = tempDir('stall-zip-src');
    const mesh = Buffer.alloc(9 * 1024 * 1024 + 77); // over STORED_DIRECT_MIN: straight to its file
    for (let i = 0; i + 4 <= mesh.length; i += 4) mesh.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(join(src, 'mesh.bin'), mesh);
    writeFileSync(join(src, 'a.csv'), 'x,y\n'.repeat(300_000));
    writeFileSync(join(src, 'z.csv'), 'z,w\n'.repeat(300_000));
    const zip = join(src, 'case.zip');
    execFileSync('zip', ['-q', '-n', '.bin', zip, 'a.csv', 'mesh.bin', 'z.csv'], { cwd: src });
    await putBytes(admin, BUCKET, 'in/case.zip', readFileSync(zip));
    // The first three reads of the archive's body stop after 100,000 bytes (the mesh's among them).
    const proxy = await startStallProxy(
      s3.endpoint,
      stallGetsOf(`/${BUCKET}/in/case.zip`, (n) => n >= 2 && n < 5),
      100_000,
    );
    try {
      const dir = tempDir('stall-zip');
      const r = await ferry(
        ['get', '--aws-config', config, '--endpoint', proxy.url, '--timeout', '2', '--retries', '3'].concat([
          '--part-size',
          '5MiB',
          `s3://${BUCKET}/in/case.zip`,
          dir,
        ]),
        { env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(0);
      expect(proxy.counts['stall-body']).toBeGreaterThanOrEqual(1);
      for (const f of ['a.csv', 'mesh.bin', 'z.csv'])
        expect(readFileSync(join(dir, f)).equals(readFileSync(join(src, f))), f).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['a.csv', 'mesh.bin', 'z.csv']);
    } finally {
      await proxy.close();
    }
  });
});

describe('ferry get stopped by a signal while a body is coming', () => {
  it('SIGTERM with a range half-received: 143 "stopped by SIGTERM", not a network failure; no file left', async () => {
    // The body stalls half-way (as a slow server's would); the signal aborts the request under it,
    // which the socket reports as ECONNRESET "aborted": once read as a broken body, exit 69.
    const proxy = await startStallProxy(
      s3.endpoint,
      getsOfBig(() => true),
      100_000,
    );
    try {
      const dir = tempDir('stall-term');
      const args = ['get', '--aws-config', config, '--endpoint', proxy.url, '--timeout', '60'];
      const run = startFerry([...args, `s3://${BUCKET}/in/big.bin`, dir], { env: cleanEnv() });
      const t0 = Date.now();
      while (proxy.counts['stall-body'] < 1 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
      expect(proxy.counts['stall-body']).toBe(1);
      run.child.kill('SIGTERM');
      const r = await run.result;
      expect(r.exitCode, r.all).toBe(143);
      expect(r.all).toContain('stopped by SIGTERM');
      expect(r.all).not.toContain('did not answer');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('ferry put through a server that stops reading the request body', () => {
  it('--timeout 2 --retries 2: each stalled PUT is abandoned and retried; then exit 73, nothing claimed', async () => {
    const proxy = await startStallProxy(
      s3.endpoint,
      (_n, line) => (line.startsWith('PUT ') ? 'stall-upload' : 'pass'),
      64 * 1024,
    );
    try {
      const dir = tempDir('stall-put');
      writeFileSync(join(dir, 'out.bin'), big);
      const r = await ferry(
        [
          'put',
          '--aws-config',
          config,
          '--endpoint',
          proxy.url,
          '--timeout',
          '2',
          '--retries',
          '2',
          dir,
          `s3://${BUCKET}/put/`,
        ],
        { env: cleanEnv() },
      );
      expect(r.exitCode, r.all).toBe(73);
      expect(proxy.counts['stall-upload']).toBe(2);
      expect(await listAll(admin, BUCKET, 'put/')).toEqual(new Map());
    } finally {
      await proxy.close();
    }
  });
});
