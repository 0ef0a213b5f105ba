import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { adminContainer, azureConfigText, freshContainer, putBlob } from '../helpers/azure.ts';
import { ferry, tempDir } from '../helpers/ferry.ts';
import { startStallProxy, stallGetsOf, type StallProxy } from '../helpers/stall-proxy.ts';

// Every byte from Azure has a deadline too: a body that stops half-way is abandoned after --timeout
// seconds of silence and asked for again from the first byte not received. (Judged by the clock:
// vitest.config.ts runs this file alone.)
const az = inject('azure');
const CONTAINER = 'ferry-az-stall';
const c = adminContainer(az, CONTAINER);
const uri = (path: string) => `az://${az.account}/${CONTAINER}/${path}`;

beforeAll(async () => {
  await freshContainer(az, CONTAINER);
});

describe('--timeout on Azure: silence, not duration (a body that stalls half-way)', () => {
  const big = Buffer.alloc(6 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 13 + 5) & 0xff;
  beforeAll(async () => putBlob(c, 'in/big.bin', big));
  const getVia = async (proxy: StallProxy, dir: string) => {
    const cfg = join(tempDir('az-stall-cfg'), 'azure');
    writeFileSync(cfg, azureConfigText(az, az.key, `${proxy.url}/${az.account}`));
    const args = ['--timeout', '2', '--retries', '2', '--part-size', '5MiB', uri('in/big.bin'), dir];
    return ferry(['get', '--azure-config', cfg, ...args]);
  };

  it('each stalled range is asked for again from its last byte; the file is byte-exact', async () => {
    const proxy = await startStallProxy(
      `http://127.0.0.1:${new URL(az.endpoint).port}`,
      stallGetsOf('/in/big.bin', (n) => n < 2),
      100_000,
    );
    try {
      const dir = tempDir('az-stall-ok');
      const r = await getVia(proxy, dir);
      expect(r.exitCode, r.all).toBe(0);
      expect(proxy.counts['stall-body']).toBe(2);
      expect(readFileSync(join(dir, 'big.bin')).equals(big)).toBe(true);
      // The second request for a stalled range starts where the first stopped (x-ms-range / Range).
      const ranges = proxy.heads
        .filter((h) => h.includes('/in/big.bin'))
        .map((h) => /range: bytes=(\d+)-/i.exec(h)?.[1]);
      expect(
        ranges.filter((r0) => r0 !== undefined && r0 !== '0' && r0 !== String(5 * 1024 * 1024)).length,
      ).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('--timeout 2 --retries 2 when every body stalls: exit 69, no partial file left', async () => {
    const proxy = await startStallProxy(
      `http://127.0.0.1:${new URL(az.endpoint).port}`,
      stallGetsOf('/in/big.bin', () => true),
      100_000,
    );
    try {
      const dir = tempDir('az-stall-fail');
      const r = await getVia(proxy, dir);
      expect(r.exitCode, r.all).toBe(69);
      expect(r.stderr).toMatch(/broke off .* 2 time\(s\)/);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
