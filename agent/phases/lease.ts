import { hostname } from 'node:os';
import { EXIT, FerryError } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { LEASE } from '../names.ts';
import type { Store } from '../store/store.ts';

/** A lease not renewed for this long is stale (FERRY_LEASE_TTL_SECONDS overrides it, for tests). */
export const LEASE_TTL_MS = 10 * 60 * 1000;

/** What the lease object holds. */
interface LeaseBody {
  run_id: string;
  host: string;
  pid: number;
  ferry: string;
  started_at: string;
  heartbeat_at: string;
}

export interface LeaseOptions {
  runId: string;
  ferry: string;
  /** Steal a lease whose holder has not renewed it for `ttlMs` (--take-over). */
  takeOver: boolean;
  /** A lease not renewed for this long is stale (default 10 min; FERRY_LEASE_TTL_SECONDS in tests). */
  ttlMs: number;
  log: Log;
  signal?: AbortSignal;
}

/**
 * One run per output prefix: `<output>_ferry.lease` names the run writing there (run id, host, pid)
 * and is renewed every ttl/10 while it runs. It is created only if absent and renewed only if it
 * still has its ETag (the store's conditional writes), so two runs cannot both believe they hold
 * it; it is read back after every write for servers that ignore conditions.
 */
export class Lease {
  /** Another run replaced the lease while this one ran: this run must not claim the prefix complete. */
  lost = false;
  private timer: NodeJS.Timeout | undefined;
  /** The renewal under way: renewals never overlap (a second one, sent with the same ETag, would fail). */
  private renewing: Promise<void> | undefined;
  private etag = '';
  private readonly loc: Location;
  private readonly body: LeaseBody;

  private constructor(
    private readonly store: Store,
    private readonly prefix: Location,
    private readonly o: LeaseOptions,
  ) {
    this.loc = under(prefix, LEASE);
    const now = new Date().toISOString();
    this.body = {
      run_id: o.runId,
      host: hostname(),
      pid: process.pid,
      ferry: o.ferry,
      started_at: now,
      heartbeat_at: now,
    };
  }

  get uri(): string {
    return formatUri(this.loc);
  }

  /** Takes the lease of `prefix` for this run, or throws exit 75 naming the run that holds it. */
  static async acquire(store: Store, prefix: Location, o: LeaseOptions): Promise<Lease> {
    const lease = new Lease(store, prefix, o);
    await lease.take();
    const every = Math.max(1000, Math.floor(o.ttlMs / 10));
    lease.timer = setInterval(() => {
      lease.renewing ??= lease.renew().finally(() => (lease.renewing = undefined));
    }, every);
    lease.timer.unref();
    return lease;
  }

  private async take(): Promise<void> {
    if (await this.write({ ifAbsent: true })) return this.confirm();
    const held = await this.read();
    if (!held) {
      if (await this.write({ ifAbsent: true })) return this.confirm();
      throw this.busy(await this.read(), 0);
    }
    const age = Date.now() - held.at;
    if (held.body.run_id !== this.o.runId) {
      if (age < this.o.ttlMs || !this.o.takeOver) throw this.busy(held, age);
      this.o.log.warn(
        `taking over the stale lease of run ${held.body.run_id} (${held.body.host}, pid ${held.body.pid}; ` +
          `no renewal for ${Math.round(age / 1000)} s)`,
      );
    }
    if (!(await this.replace(held.etag))) throw this.busy(await this.read(), 0);
    return this.confirm();
  }

  private busy(held: { body: LeaseBody } | undefined, age: number): FerryError {
    const who = held
      ? `run ${held.body.run_id} on ${held.body.host} (pid ${held.body.pid}, ${held.body.ferry}), ` +
        `renewed ${Math.round(age / 1000)} s ago`
      : 'another run';
    const stale = age >= this.o.ttlMs;
    return new FerryError(`the output prefix is being written by ${who}`, {
      phase: 'upload',
      target: formatUri(this.prefix),
      exitCode: EXIT.busy,
      hint: stale
        ? `its lease is stale (no renewal for ${Math.round(this.o.ttlMs / 1000)} s): ` +
          'if that run is dead, re-run with --take-over'
        : 'two DOE rows with the same s3_output? give every row its own output prefix; or wait for that run to end',
    });
  }

  /** Writes the lease with a condition; false when the condition failed. */
  private async write(cond: { ifAbsent?: boolean; ifEtag?: string }): Promise<boolean> {
    this.body.heartbeat_at = new Date().toISOString();
    const written = await this.store.putBytes(this.loc, Buffer.from(JSON.stringify(this.body)), {
      phase: 'upload',
      signal: this.o.signal,
      what: "writing the output prefix's lease",
      contentType: 'application/json',
      ...cond,
    });
    if (written) this.etag = written.etag;
    return written !== undefined;
  }

  /** Overwrites the lease if it still has `etag`. */
  private replace(etag: string): Promise<boolean> {
    return this.write({ ifEtag: etag });
  }

  private async read(): Promise<{ body: LeaseBody; etag: string; at: number } | undefined> {
    const got = await this.store.fetch(this.loc, {
      phase: 'upload',
      signal: this.o.signal,
      what: "reading the output prefix's lease",
    });
    if (!got) return undefined;
    let body: LeaseBody;
    try {
      body = JSON.parse(got.body.toString()) as LeaseBody;
    } catch {
      return {
        body: { run_id: '(unreadable lease)', host: '?', pid: 0, ferry: '?', started_at: '', heartbeat_at: '' },
        etag: got.info.etag,
        at: 0,
      };
    }
    const at = Math.max(got.info.modified?.getTime() ?? 0, Date.parse(body.heartbeat_at) || 0);
    return { body, etag: got.info.etag, at };
  }

  /** A server that ignores conditions lets the last writer win: make sure that is us. */
  private async confirm(): Promise<void> {
    const now = await this.read();
    if (now?.body.run_id !== this.o.runId) throw this.busy(now, 0);
    this.etag = now.etag;
  }

  private async renew(): Promise<void> {
    if (this.lost) return;
    try {
      if (!(await this.replace(this.etag))) {
        this.lost = true;
        clearInterval(this.timer);
        const now = await this.read().catch(() => undefined);
        this.o.log.error(
          `lost the lease ${this.uri}: ` +
            (now ? `run ${now.body.run_id} on ${now.body.host} took it over` : 'it was removed') +
            '; ' +
            'this run will not mark the prefix complete',
        );
      }
    } catch (err) {
      this.o.log.warn(`could not renew the lease ${this.uri}: ${(err as Error).message}`);
    }
  }

  /** Stops renewing and removes the lease if it is still this run's. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
    try {
      const now = await this.read();
      if (now?.body.run_id === this.o.runId && !this.lost)
        await this.store.remove(this.loc, { phase: 'upload', ifEtag: now.etag });
    } catch (err) {
      this.o.log.warn(`could not remove the lease ${this.uri}: ${(err as Error).message}`);
    }
  }
}
