import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Location } from '../../agent/location.ts';
import type { Log } from '../../agent/log.ts';
import { Lease } from '../../agent/prefix/lease.ts';
import { rowIdentity } from '../../agent/prefix/row.ts';
import type { PutBytesOptions, Store } from '../../agent/store/store.ts';

/** One object with conditional writes (If-None-Match: *, If-Match), as S3 and Azure give them; `slow` holds writes. */
class OneObject {
  obj: { body: Buffer; etag: string } | undefined;
  writes = 0;
  slow: Promise<void> | undefined;
  private n = 0;

  async putBytes(loc: Location, body: Buffer, o: PutBytesOptions) {
    this.writes++;
    await this.slow;
    if (o.ifAbsent && this.obj) return undefined;
    if (o.ifEtag !== undefined && this.obj?.etag !== o.ifEtag) return undefined;
    this.obj = { body, etag: `etag-${++this.n}` };
    return { loc, size: body.length, digest: this.obj.etag, etag: this.obj.etag };
  }

  async fetch(loc: Location) {
    if (!this.obj) return undefined;
    const { body, etag } = this.obj;
    return {
      body,
      info: { key: loc.key, size: body.length, etag, digest: etag, modified: new Date() },
      serverDate: new Date(),
    };
  }

  async remove(_loc: Location, o: { ifEtag?: string }) {
    if (o.ifEtag !== undefined && this.obj?.etag !== o.ifEtag) return false;
    this.obj = undefined;
    return true;
  }
}

const ROW = { row: rowIdentity({ scheme: 's3', bucket: 'b', key: 'out/' }, [], ['x'], {}), attempt: 'a1' };
const logged: string[] = [];
const log = { info: () => {}, warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

describe('Lease', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    logged.length = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('renews one at a time: a renewal slower than the interval is not overlapped by the next one', async () => {
    const store = new OneObject();
    const prefix: Location = { scheme: 's3', bucket: 'b', key: 'out/' };
    // ttlMs 3000: renewed every second.
    const o = { ...ROW, runId: 'r1', ferry: 'ferry test', takeOver: false, ttlMs: 3000, log: log as unknown as Log };
    const lease = await Lease.acquire(store as unknown as Store, prefix, o);
    const afterTake = store.writes;
    // The server now takes 3.5 s per write: renewals are due every second.
    let answer!: () => void;
    store.slow = new Promise<void>((r) => (answer = r));
    await vi.advanceTimersByTimeAsync(3500);
    expect(store.writes - afterTake).toBe(1);
    answer();
    store.slow = undefined;
    await vi.advanceTimersByTimeAsync(1000);
    expect(lease.lost).toBe(false);
    expect(logged).toEqual([]);
    expect(store.writes - afterTake).toBe(2);
    await lease.release();
    expect(store.obj).toBeUndefined();
  });

  it('a release while a renewal is under way waits for it, then removes the lease', async () => {
    const store = new OneObject();
    const prefix: Location = { scheme: 's3', bucket: 'b', key: 'out/' };
    // ttlMs 3000: renewed every second.
    const o = { ...ROW, runId: 'r1', ferry: 'ferry test', takeOver: false, ttlMs: 3000, log: log as unknown as Log };
    const lease = await Lease.acquire(store as unknown as Store, prefix, o);
    let answer!: () => void;
    store.slow = new Promise<void>((r) => (answer = r));
    await vi.advanceTimersByTimeAsync(1000); // a renewal is sent, and waits
    const released = lease.release();
    answer();
    store.slow = undefined;
    await released;
    expect(lease.lost).toBe(false);
    expect(logged).toEqual([]);
    expect(store.obj).toBeUndefined();
  });
});
