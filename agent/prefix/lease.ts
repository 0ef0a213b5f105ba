import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { backOff } from '../backoff.ts';
import { describeError, EXIT, FerryError } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { LEASE } from '../names.ts';
import type { Store } from '../store/store.ts';
import { CLOCK_GRAIN_MS, describeHolder, ownStart, viewLease, type HeldLease, type LeaseBody } from './lease-view.ts';
import { fetchManifest } from './manifest.ts';
import type { RowIdentity } from './row.ts';

export { LEASE_TTL_MS } from './lease-view.ts';

/** The most the lease's removal may take at the end of a run (also after a second signal). */
const RELEASE_MS = 15_000;

export interface LeaseOptions {
  row: RowIdentity;
  attempt: string;
  runId: string;
  ferry: string;
  /** Take a stale lease of another row (--take-over); an earlier attempt's of this row is taken anyway. */
  takeOver: boolean;
  /** A lease not renewed for this long (by the store's clock) is stale; renewed every ttlMs/3. */
  ttlMs: number;
  log: Log;
  signal?: AbortSignal;
}

/**
 * What a lease that could not be removed means, and what to do, in lines after `could not remove the
 * lease URI: …` (the store's own hint is about writing, not deleting: left out).
 */
export function leaseLeft(uri: string, err: unknown, ttlMs: number): string {
  const e = err instanceof FerryError ? `${err.phase}: ${err.message}` : describeError(err);
  const denied = err instanceof FerryError && err.exitCode === EXIT.noPerm;
  return (
    `could not remove the lease ${uri}: ${e}\n  the lease stays: until it goes stale (${Math.round(ttlMs / 1000)} s ` +
    "after its last renewal, by the store's clock) a run of this row on another node waits for it, and " +
    'ferry verify there says a run holds the prefix\n  hint: ' +
    (denied
      ? `these credentials may not delete it (the policy needs s3:DeleteObject on it: ferry policy prints a run's ` +
        `actions); remove it with credentials that may (aws s3 rm ${uri}), or leave it to go stale`
      : `remove it once the store answers again (aws s3 rm ${uri}), or leave it to go stale`)
  );
}

/** Another attempt holds the prefix now: this run stops writing there (exit 75). */
export class LeaseLost extends FerryError {}

/**
 * One attempt per output prefix: `<output>_ferry.lease` names the attempt writing there (its row,
 * host, pid) and is renewed every ttl/3. It is created only if absent and replaced only while it
 * still has its ETag (the store's conditional writes), so two attempts cannot both believe they
 * hold it; it is read back after every take for servers that ignore conditions. Its age is the
 * store's (the lease's LastModified against the Date of the answer), so a node with a wrong clock
 * can neither steal a live lease nor keep a dead one.
 */
export class Lease {
  /** Another attempt replaced the lease: this run must not write to the prefix any more. */
  lost = false;
  private timer: NodeJS.Timeout | undefined;
  /** The renewal under way: renewals never overlap (a second one, sent with the same ETag, would fail). */
  private renewing: Promise<boolean> | undefined;
  private etag = '';
  private renewedAt = 0;
  /** When the lease was last written (this machine's clock, ms since the epoch): the heartbeat says it. */
  lastRenewal = 0;
  /**
   * The earlier attempt of this row whose lease this one took over: it died holding it (a node lost, a
   * kill -9), maybe before it journaled anything, so its lease is the only word of it the row has.
   */
  takenFrom: LeaseBody | undefined;
  /**
   * Another attempt held the lease when this one came (it waited for it, or took it over): that one
   * may have finished the row meanwhile, so whether the row is done is asked again.
   */
  contended = false;
  private readonly loc: Location;
  private readonly body: LeaseBody;

  private constructor(
    private readonly store: Store,
    private readonly prefix: Location,
    private readonly o: LeaseOptions,
  ) {
    this.loc = under(prefix, LEASE);
    const now = new Date().toISOString();
    const { row } = o;
    this.body = {
      row: row.key,
      attempt: o.attempt,
      run_id: o.runId,
      host: hostname(),
      pid: process.pid,
      pid_start: ownStart(),
      ferry: o.ferry,
      ...(row.jobId ? { job_id: row.jobId } : {}),
      inputs: row.inputs,
      solver: row.solver,
      started_at: now,
      heartbeat_at: now,
    };
  }

  get uri(): string {
    return formatUri(this.loc);
  }

  /** Takes the lease of `prefix` for this attempt (waiting out an earlier attempt's), or throws 75. */
  static async acquire(store: Store, prefix: Location, o: LeaseOptions): Promise<Lease> {
    const lease = new Lease(store, prefix, o);
    await lease.take();
    lease.timer = setInterval(() => void lease.renewOnce(), Math.max(1000, Math.floor(o.ttlMs / 3)));
    lease.timer.unref();
    return lease;
  }

  private async take(): Promise<void> {
    const deadline = performance.now() + this.o.ttlMs * 1.5;
    const firstSeen = new Map<string, number>(); // a store without a Date: unchanged for ttl of our time
    for (let waited = 0; ; waited++) {
      if (await this.write({ ifAbsent: true })) return this.confirm();
      const held = await this.read();
      if (!held) continue; // removed meanwhile: try to create it again
      const sameRow = held.body.row === this.o.row.key;
      const mine = held.body.attempt === this.o.attempt;
      if (!mine) this.contended = true;
      if (!firstSeen.has(held.etag)) firstSeen.set(held.etag, performance.now());
      const unchangedMs = held.ageMs ?? performance.now() - firstSeen.get(held.etag)!;
      const stale = held.holderGone || unchangedMs >= this.o.ttlMs + CLOCK_GRAIN_MS;
      if (mine || stale) {
        // Another row's lease is taken only with --take-over, or when its process is gone from this host.
        if (!mine && !sameRow && !this.o.takeOver && !held.holderGone) throw this.busy(held, false);
        const what = held.holderGone ? 'lease' : 'stale lease';
        if (!mine) this.o.log.warn(`taking over the ${what} of ${describeHolder(held, sameRow)} (${this.uri})`);
        if (await this.write({ ifEtag: held.etag })) {
          if (!mine && sameRow) this.takenFrom = held.body;
          return this.confirm();
        }
        continue; // someone else wrote it meanwhile: look again
      }
      if (!sameRow || performance.now() > deadline) throw this.busy(held, sameRow);
      if (waited === 0) this.sayWaiting(held);
      await backOff(3, this.o.signal, { firstMs: Math.min(10_000, this.o.ttlMs / 12), maxMs: 10_000 });
    }
  }

  private sayWaiting(held: HeldLease): void {
    const left = held.ageMs === undefined ? this.o.ttlMs : Math.max(0, this.o.ttlMs - held.ageMs);
    this.o.log.info(
      `the output prefix's lease is held by ${describeHolder(held, true)}: waiting up to ` +
        `${Math.round((left + this.o.ttlMs / 2) / 1000)} s for it to end or go stale ` +
        `(a lease not renewed for ${Math.round(this.o.ttlMs / 1000)} s is a dead node's)`,
    );
  }

  private busy(held: HeldLease, sameRow: boolean): FerryError {
    return new FerryError(`the output prefix is being written by ${describeHolder(held, sameRow)}`, {
      phase: 'upload',
      target: formatUri(this.prefix),
      exitCode: EXIT.busy,
      hint: sameRow
        ? 'that attempt of this row still runs and renews its lease: wait for it to end'
        : 'two DOE rows with the same s3_output? give every row its own output prefix' +
          (held.ageMs !== undefined && held.ageMs >= this.o.ttlMs
            ? "; if that run is dead and this prefix is this row's, re-run with --take-over"
            : ''),
    });
  }

  /** Writes the lease with a condition; false when the condition failed. */
  private async write(cond: { ifAbsent?: boolean; ifEtag?: string }, signal = this.o.signal): Promise<boolean> {
    this.body.heartbeat_at = new Date().toISOString();
    const written = await this.store.putBytes(this.loc, Buffer.from(JSON.stringify(this.body)), {
      phase: 'upload',
      signal,
      what: "writing the output prefix's lease",
      contentType: 'application/json',
      ...cond,
    });
    if (!written) return false;
    this.etag = written.etag;
    this.renewedAt = performance.now();
    this.lastRenewal = Date.now();
    return true;
  }

  private async read(signal = this.o.signal): Promise<HeldLease | undefined> {
    const got = await this.store.fetch(this.loc, {
      phase: 'upload',
      signal,
      what: "reading the output prefix's lease",
    });
    return got ? viewLease(got) : undefined;
  }

  /** A server that ignores conditions lets the last writer win: make sure that is this attempt. */
  private async confirm(): Promise<void> {
    const now = await this.read();
    if (now?.body.attempt !== this.o.attempt) throw this.busy(now ?? this.vanished(), now?.body.row === this.o.row.key);
    this.etag = now.etag;
  }

  private vanished(): HeldLease {
    return { body: { ...this.body, attempt: '(none: the lease was removed)' }, etag: '', holderGone: false };
  }

  /** A renewal, or the one already under way. */
  private renewOnce(): Promise<boolean> {
    this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renew(): Promise<boolean> {
    if (this.lost) return false;
    try {
      if (await this.write({ ifEtag: this.etag })) return true;
      const now = await this.read().catch(() => undefined);
      this.markLost(now, now ? undefined : await this.lastClaim());
      return false;
    } catch (err) {
      this.o.log.warn(`could not renew the lease ${this.uri}: ${describeError(err)}`);
      return !this.lost;
    }
  }

  /** The lease was removed under this run: whose manifest the prefix holds now, in words (if any). */
  private async lastClaim(): Promise<string | undefined> {
    const call = { phase: 'upload' as const, signal: this.o.signal };
    const m = await fetchManifest(this.store, this.prefix, call).catch(() => undefined);
    if (!m) return undefined;
    const whose = m.row === this.o.row.key ? 'an attempt of this row' : `another row (${m.row ?? '?'})`;
    return `the prefix's manifest is now attempt ${m.attempt ?? m.run_id}'s (${whose}, status ${m.status})`;
  }

  private markLost(now: HeldLease | undefined, claim?: string): void {
    this.lost = true;
    clearInterval(this.timer);
    const removed = `it was removed${claim ? `: ${claim}` : ''}`;
    this.o.log.error(
      `lost the lease ${this.uri}: ` +
        (now ? `${describeHolder(now, now.body.row === this.o.row.key)} took it over` : removed) +
        '; this run writes nothing more to the prefix',
    );
  }

  /**
   * Before each write to the prefix: throws LeaseLost (75) when another attempt holds it. A lease not
   * renewed for a third of its life (a frozen process, a slow renewal) is renewed first, so a run
   * that wakes up after losing it finds out before it writes.
   */
  async fence(): Promise<void> {
    if (!this.lost && performance.now() - this.renewedAt > this.o.ttlMs / 3) await this.renewOnce();
    if (this.lost)
      throw new LeaseLost(`another attempt took the lease of ${formatUri(this.prefix)}`, {
        phase: 'upload',
        target: this.uri,
        exitCode: EXIT.busy,
        hint: 'that attempt carries the row on; this one stops writing to the prefix (nothing is deleted here)',
      });
  }

  /**
   * Stops renewing and removes the lease if it is still this attempt's. Tried even after a second
   * signal (which stops transfers, not this): two small requests, RELEASE_MS at most, so that a re-run
   * elsewhere can take the prefix at once. Throws the store's failure (a lease left behind is not a
   * clean end).
   */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
    if (this.lost) return;
    const signal = AbortSignal.timeout(RELEASE_MS);
    const now = await this.read(signal);
    if (now?.body.attempt === this.o.attempt)
      await this.store.remove(this.loc, { phase: 'upload', ifEtag: now.etag, signal, what: 'removing the lease' });
  }
}
