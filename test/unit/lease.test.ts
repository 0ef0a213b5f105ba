import { describe, expect, it } from 'vitest';
import { Lease, LeaseLost } from '../../agent/prefix/lease.ts';
import { rowIdentity } from '../../agent/prefix/row.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { OUT, quietLog } from '../helpers/unit-run.ts';

const rowA = rowIdentity(OUT, [{ uri: 's3://bucket/in/a.zip', etag: 'e1' }], ['converge', 'super'], {});
const rowB = rowIdentity(OUT, [{ uri: 's3://bucket/in/b.zip', etag: 'e2' }], ['converge', 'super'], {});
const TTL = 1200;
const opts = (row = rowA, attempt = 'a1', extra: Partial<Parameters<typeof Lease.acquire>[2]> = {}) => ({
  row,
  attempt,
  runId: attempt,
  ferry: 'ferry test',
  takeOver: false,
  ttlMs: TTL,
  log: quietLog(),
  ...extra,
});
const LEASE_KEY = `${OUT.key}_ferry.lease`;
/** A lease of another process, as a node elsewhere wrote it (its pid is not ours to check). */
function foreignLease(store: MemoryStore, row: string, attempt: string, ageMs: number): void {
  const body = {
    row,
    attempt,
    run_id: attempt,
    host: 'node-elsewhere',
    pid: 4242,
    ferry: 'x',
    started_at: '',
    heartbeat_at: '',
  };
  store.put(LEASE_KEY, JSON.stringify(body), new Date(store.now() - ageMs));
}

describe('the lease, by the store clock', () => {
  it('taken when absent, renewed, released: the object goes', async () => {
    const store = new MemoryStore();
    const lease = await Lease.acquire(store, OUT, opts());
    expect(JSON.parse(store.objects.get(LEASE_KEY)!.body.toString())).toMatchObject({ row: rowA.key, attempt: 'a1' });
    await lease.fence(); // held: no throw
    await lease.release();
    expect(store.objects.has(LEASE_KEY)).toBe(false);
  });

  it('another row holding a fresh lease: 75 at once, naming it', async () => {
    const store = new MemoryStore();
    foreignLease(store, rowB.key, 'b1', 0);
    await expect(Lease.acquire(store, OUT, opts())).rejects.toMatchObject({ exitCode: 75 });
    expect(store.calls.filter((c) => c === `fetch ${LEASE_KEY}`)).toHaveLength(1); // read once: no waiting
  });

  it('an earlier attempt of the same row that stopped renewing is waited out and taken (no --take-over)', async () => {
    const store = new MemoryStore();
    foreignLease(store, rowA.key, 'a0', TTL - 300);
    const lease = await Lease.acquire(store, OUT, opts(rowA, 'a1'));
    expect(JSON.parse(store.objects.get(LEASE_KEY)!.body.toString()).attempt).toBe('a1');
    await lease.release();
  });

  it('a stale lease of another row needs --take-over; a node whose own clock is far off changes nothing', async () => {
    const store = new MemoryStore();
    foreignLease(store, rowB.key, 'b1', TTL * 2);
    await expect(Lease.acquire(store, OUT, opts())).rejects.toMatchObject({ exitCode: 75 });
    // a fresh lease stays fresh whatever this node's clock says: ages are the store's
    const realNow = Date.now;
    Date.now = () => realNow() + 20 * 60_000;
    try {
      foreignLease(store, rowB.key, 'b2', 0);
      await expect(Lease.acquire(store, OUT, opts(rowA, 'a1', { takeOver: true }))).rejects.toMatchObject({
        exitCode: 75,
      });
    } finally {
      Date.now = realNow;
    }
    foreignLease(store, rowB.key, 'b3', TTL * 2);
    const lease = await Lease.acquire(store, OUT, opts(rowA, 'a1', { takeOver: true }));
    await lease.release();
  });

  it('a run that lost its lease finds out before its next write, and leaves the new holder alone', async () => {
    const store = new MemoryStore();
    const lease = await Lease.acquire(store, OUT, opts());
    foreignLease(store, rowA.key, 'a2', 0); // another attempt took it over (as after a freeze)
    store.now = () => Date.now();
    (lease as unknown as { renewedAt: number }).renewedAt = 0; // not renewed for a long time (frozen)
    await expect(lease.fence()).rejects.toBeInstanceOf(LeaseLost);
    expect(lease.lost).toBe(true);
    await lease.release();
    expect(JSON.parse(store.objects.get(LEASE_KEY)!.body.toString()).attempt).toBe('a2');
  });
});
