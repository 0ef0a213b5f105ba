import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FerryError } from '../../agent/errors.ts';
import type { Location } from '../../agent/location.ts';
import { ObjectChanged } from '../../agent/store/changed.ts';
import type {
  Call,
  Fetched,
  ObjectInfo,
  PutBytesOptions,
  PutFileOptions,
  Store,
  StoreTerms,
  Uploaded,
  Verdict,
} from '../../agent/store/store.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/**
 * A Store over a Map, for unit tests: ETags are MD5s (or what `setEtag` says, as SSE-KMS would), reads
 * come in chunks of `chunk` bytes, and every call is counted, with the most requests in flight at once.
 */
export class MemoryStore implements Store {
  readonly where = 'memory';
  readonly terms: StoreTerms = {
    name: 'memory',
    key: 'key',
    needs: { read: 'read', put: 'put', verify: 'read', remove: 'delete', multipart: 'put' },
  };
  readonly objects = new Map<string, { body: Buffer; etag: string; modified: Date }>();
  /** ETags the store shows that are not the MD5 of the bytes (SSE-KMS): verify accepts them by size. */
  readonly opaque = new Set<string>();
  calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Largest chunk handed to a reader (the memory a streaming reader needs). */
  chunk = 1024;

  /** Called once a read of `key` was let through, before its bytes: a test may write the object meanwhile. */
  onRead?: (key: string) => void;
  /** Awaited before a small PUT (putBytes) of `key` is stored: a test may hold it there. */
  beforePut?: (key: string, body: Buffer) => Promise<void> | void;

  /** The store's clock (LastModified and the Date of its answers): a test may move it. */
  now = () => Date.now();

  put(key: string, body: Buffer | string, modified = new Date(this.now())): void {
    const b = Buffer.from(body);
    this.objects.set(key, { body: b, etag: md5(b), modified });
  }

  setEtag(key: string, etag: string): void {
    this.objects.get(key)!.etag = etag;
    this.opaque.add(key);
  }

  private async op<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    this.calls.push(name);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      return await fn();
    } finally {
      this.inFlight--;
    }
  }

  private info(key: string): ObjectInfo {
    const o = this.objects.get(key)!;
    return { key, size: o.body.length, etag: o.etag, digest: o.etag, modified: o.modified };
  }

  head(loc: Location, _call: Call): Promise<ObjectInfo> {
    return this.op(`head ${loc.key}`, () => {
      if (!this.objects.has(loc.key))
        throw new FerryError('no such object', { phase: 'download', exitCode: 66, target: loc.key });
      return this.info(loc.key);
    });
  }

  list(prefix: Location, _call: Call): Promise<ObjectInfo[]> {
    return this.op(`list ${prefix.key}`, () =>
      [...this.objects.keys()]
        .filter((k) => k.startsWith(prefix.key))
        .sort()
        .map((k) => this.info(k)),
    );
  }

  read(
    loc: Location,
    etag: string,
    [start, end]: [number, number],
    call: Call,
    onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
  ): Promise<void> {
    return this.op(`read ${loc.key} ${start}-${end}`, async () => {
      const o = this.objects.get(loc.key);
      if (!o || o.etag !== etag) throw new ObjectChanged(`memory://${loc.key}`); // as the S3 and Azure stores do
      this.onRead?.(loc.key);
      for (let pos = start; pos < end; pos += this.chunk)
        await onChunk(Buffer.from(o.body.subarray(pos, Math.min(end, pos + this.chunk))), pos);
    });
  }

  fetch(loc: Location, _call: Call): Promise<Fetched | undefined> {
    return this.op(`fetch ${loc.key}`, () =>
      this.objects.has(loc.key)
        ? { body: this.objects.get(loc.key)!.body, info: this.info(loc.key), serverDate: new Date(this.now()) }
        : undefined,
    );
  }

  putFile(file: string, size: number, dest: Location, o?: PutFileOptions): Promise<Uploaded> {
    return this.op(`put ${dest.key}`, () => {
      const body = readFileSync(file).subarray(0, size);
      this.put(dest.key, body);
      o?.meter?.addBytes(size);
      const sha256 = o?.sha256 === false ? undefined : createHash('sha256').update(body).digest('hex');
      return { loc: dest, size, digest: md5(body), etag: md5(body), sha256 };
    });
  }

  /** Honours ifAbsent (If-None-Match: *) and ifEtag (If-Match) as a conditional store does. */
  putBytes(dest: Location, body: Buffer, o?: PutBytesOptions): Promise<Uploaded | undefined> {
    return this.op(`put ${dest.key}`, async () => {
      await this.beforePut?.(dest.key, body);
      const now = this.objects.get(dest.key);
      if (o?.ifAbsent && now) return undefined;
      if (o?.ifEtag !== undefined && now?.etag !== o.ifEtag) return undefined;
      this.put(dest.key, body);
      return { loc: dest, size: body.length, digest: md5(body), etag: md5(body) };
    });
  }

  remove(loc: Location, call?: Call & { ifEtag?: string }): Promise<boolean> {
    return this.op(`remove ${loc.key}`, () => {
      const now = this.objects.get(loc.key);
      if (call?.ifEtag !== undefined && now && now.etag !== call.ifEtag) return false;
      return this.objects.delete(loc.key) || call?.ifEtag === undefined;
    });
  }

  verify(up: Uploaded, _call: Call): Promise<Verdict> {
    return this.op(`verify ${up.loc.key}`, () => {
      const o = this.objects.get(up.loc.key);
      if (!o) return { ok: false, reason: 'missing' };
      if (o.body.length !== up.size) return { ok: false, reason: 'size' };
      return this.opaque.has(up.loc.key) || o.etag === up.digest ? { ok: true } : { ok: false, reason: 'etag' };
    });
  }

  async fingerprint(file: string): Promise<{ digest: string; sha256: string }> {
    const b = readFileSync(file);
    return { digest: md5(b), sha256: createHash('sha256').update(b).digest('hex') };
  }

  partFor(_size: number): number {
    return 8 * 1024 * 1024;
  }

  async abortUnfinished(): Promise<number> {
    return 0;
  }

  close(): void {}
}

/** A manifest as `ferry run` writes it, for the objects given (path → bytes). */
export function manifestFor(
  files: Record<string, string | Buffer>,
  o: { status?: string; exit?: number | null; signal?: string | null; seconds?: number } = {},
): Buffer {
  const start = new Date('2026-11-26T10:00:00Z');
  const m = {
    ferry: 'ferry 0.1.0 (abc, node 20.20.2)',
    run_id: 'r1',
    status: o.status ?? 'complete',
    started_at: start.toISOString(),
    ended_at: new Date(start.getTime() + (o.seconds ?? 12) * 1000).toISOString(),
    inputs: [],
    solver: { argv: ['mpirun', 'converge'], exit_code: o.exit === undefined ? 0 : o.exit, signal: o.signal ?? null },
    outputs: Object.entries(files).map(([path, b]) => ({
      path,
      size: Buffer.from(b).length,
      sha256: createHash('sha256').update(b).digest('hex'),
      etag: md5(Buffer.from(b)),
    })),
    not_uploaded: [],
    kept: [],
  };
  return Buffer.from(JSON.stringify(m));
}
