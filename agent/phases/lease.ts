import { hostname } from 'node:os';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EXIT, FerryError } from '../errors.ts';
import type { Log } from '../log.ts';
import { LEASE } from '../names.ts';
import { classifyS3Error, httpStatus } from '../s3/errors.ts';
import { formatUri, keyUnder, type S3Uri } from '../uri.ts';

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
  endpoint?: string;
  signal?: AbortSignal;
}

const isPrecondition = (err: unknown) => httpStatus(err) === 412 || (err as { name?: string }).name === 'PreconditionFailed';

/**
 * One run per output prefix: `<output>_ferry.lease` names the run writing there (run id, host, pid)
 * and is renewed every ttl/10 while it runs. It is created with If-None-Match: * (honoured by AWS
 * S3 and by Ceph RGW 16, measured) and renewed with If-Match on its ETag, so two runs cannot both
 * believe they hold it; it is read back after every write for servers that ignore both.
 */
export class Lease {
  /** Another run replaced the lease while this one ran: this run must not claim the prefix complete. */
  lost = false;
  private timer: NodeJS.Timeout | undefined;
  private etag = '';
  /** The server matches If-Match only against the bare ETag (Ceph RGW 16). */
  private unquoted = false;
  private readonly key: string;
  private readonly body: LeaseBody;

  private constructor(
    private readonly client: S3Client,
    private readonly prefix: S3Uri,
    private readonly o: LeaseOptions,
  ) {
    this.key = keyUnder(prefix, LEASE);
    const now = new Date().toISOString();
    this.body = { run_id: o.runId, host: hostname(), pid: process.pid, ferry: o.ferry, started_at: now, heartbeat_at: now };
  }

  get uri(): string {
    return formatUri({ bucket: this.prefix.bucket, key: this.key });
  }

  /** Takes the lease of `prefix` for this run, or throws exit 75 naming the run that holds it. */
  static async acquire(client: S3Client, prefix: S3Uri, o: LeaseOptions): Promise<Lease> {
    const lease = new Lease(client, prefix, o);
    try {
      await lease.take();
    } catch (err) {
      throw classifyS3Error(err, { phase: 'upload', op: "taking the output prefix's lease", target: lease.uri, endpoint: o.endpoint });
    }
    const every = Math.max(1000, Math.floor(o.ttlMs / 10));
    lease.timer = setInterval(() => void lease.renew(), every);
    lease.timer.unref();
    return lease;
  }

  private async take(): Promise<void> {
    if (await this.write({ IfNoneMatch: '*' })) return this.confirm();
    const held = await this.read();
    if (!held) {
      if (await this.write({ IfNoneMatch: '*' })) return this.confirm();
      throw this.busy(await this.read(), 0);
    }
    const age = Date.now() - held.at;
    if (held.body.run_id !== this.o.runId) {
      if (age < this.o.ttlMs || !this.o.takeOver) throw this.busy(held, age);
      this.o.log.warn(`taking over the stale lease of run ${held.body.run_id} (${held.body.host}, pid ${held.body.pid}; no renewal for ${Math.round(age / 1000)} s)`);
    }
    if (!(await this.replace(held.etag))) throw this.busy(await this.read(), 0);
    return this.confirm();
  }

  private busy(held: { body: LeaseBody } | undefined, age: number): FerryError {
    const who = held ? `run ${held.body.run_id} on ${held.body.host} (pid ${held.body.pid}, ${held.body.ferry}), renewed ${Math.round(age / 1000)} s ago` : 'another run';
    const stale = age >= this.o.ttlMs;
    return new FerryError(`the output prefix is being written by ${who}`, {
      phase: 'upload',
      target: formatUri(this.prefix),
      exitCode: EXIT.busy,
      hint: stale
        ? `its lease is stale (no renewal for ${Math.round(this.o.ttlMs / 1000)} s): if that run is dead, re-run with --take-over`
        : 'two DOE rows with the same s3_output? give every row its own output prefix; or wait for that run to end',
    });
  }

  /** PutObject of the lease with a condition; false when the condition failed. */
  private async write(cond: { IfNoneMatch?: string; IfMatch?: string }): Promise<boolean> {
    this.body.heartbeat_at = new Date().toISOString();
    try {
      const r = await this.client.send(
        new PutObjectCommand({ Bucket: this.prefix.bucket, Key: this.key, Body: JSON.stringify(this.body), ContentType: 'application/json', ...cond }),
        { abortSignal: this.o.signal },
      );
      this.etag = r.ETag ?? '';
      return true;
    } catch (err) {
      if (isPrecondition(err)) return false;
      throw err;
    }
  }

  /** Overwrites the lease if it still has `etag`. Ceph RGW 16 matches If-Match only without the quotes. */
  private async replace(etag: string): Promise<boolean> {
    if (await this.write({ IfMatch: this.unquoted ? etag.replace(/"/g, '') : etag })) return true;
    if (this.unquoted) return false;
    const now = await this.client.send(new HeadObjectCommand({ Bucket: this.prefix.bucket, Key: this.key }), { abortSignal: this.o.signal }).catch(() => undefined);
    if (now?.ETag !== etag) return false;
    this.unquoted = await this.write({ IfMatch: etag.replace(/"/g, '') });
    return this.unquoted;
  }

  private async read(): Promise<{ body: LeaseBody; etag: string; at: number } | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.prefix.bucket, Key: this.key }), { abortSignal: this.o.signal });
      const body = JSON.parse(await r.Body!.transformToString()) as LeaseBody;
      const at = Math.max(r.LastModified?.getTime() ?? 0, Date.parse(body.heartbeat_at) || 0);
      return { body, etag: r.ETag ?? '', at };
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey' || httpStatus(err) === 404) return undefined;
      if (err instanceof SyntaxError) return { body: { run_id: '(unreadable lease)', host: '?', pid: 0, ferry: '?', started_at: '', heartbeat_at: '' }, etag: '', at: 0 };
      throw err;
    }
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
        this.o.log.error(`lost the lease ${this.uri}: ${now ? `run ${now.body.run_id} on ${now.body.host} took it over` : 'it was removed'}; this run will not mark the prefix complete`);
      }
    } catch (err) {
      this.o.log.warn(`could not renew the lease ${this.uri}: ${(err as Error).message}`);
    }
  }

  /** Stops renewing and removes the lease if it is still this run's. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    try {
      const now = await this.read();
      if (now?.body.run_id === this.o.runId && !this.lost) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.prefix.bucket, Key: this.key }));
      }
    } catch (err) {
      this.o.log.warn(`could not remove the lease ${this.uri}: ${(err as Error).message}`);
    }
  }
}
