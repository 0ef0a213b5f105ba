import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Uploaded } from './upload.ts';

export interface Verdict {
  ok: boolean;
  /** Why the object does not match, in words. */
  reason?: string;
}

type Seen = { size: number; etag: string; kms?: boolean };

function judge(up: Uploaded, seen: Seen): Verdict {
  if (seen.size !== up.size) return { ok: false, reason: `size in S3 is ${seen.size}, local file is ${up.size}` };
  if (seen.kms) return { ok: true };
  if (seen.etag !== up.expectedEtag) return { ok: false, reason: `ETag in S3 is ${seen.etag || '(none)'}, expected ${up.expectedEtag}` };
  return { ok: true };
}

/**
 * HeadObject the uploaded key: its size and ETag must be what we sent. With SSE-KMS the ETag is
 * not an MD5, so only the size is compared (every request's Content-MD5 was checked by the server).
 */
export async function verifyUpload(client: S3Client, bucket: string, up: Uploaded, signal?: AbortSignal): Promise<Verdict> {
  const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: up.key }), { abortSignal: signal });
  const kms = h.ServerSideEncryption === 'aws:kms' || h.ServerSideEncryption === 'aws:kms:dsse';
  return judge(up, { size: h.ContentLength ?? -1, etag: (h.ETag ?? '').replace(/"/g, ''), kms });
}

/** Batches this small or smaller are checked with one HeadObject each. */
const HEAD_BATCH = 3;
/** A listing that reads more than this many keys per key it confirms is cut short (HeadObject the rest). */
const KEYS_PER_CONFIRM = 8;

function commonPrefix(keys: string[]): string {
  let p = keys[0];
  for (const k of keys) while (!k.startsWith(p)) p = p.slice(0, -1);
  return p;
}

interface Pending {
  up: Uploaded;
  settle: (v: Verdict | Error) => void;
}

/**
 * Verifies uploads in groups: while one check is under way, newly finished uploads wait and are
 * then checked together. A group of a few is checked with HeadObject per key; a larger group with
 * one ListObjectsV2 over the keys' common prefix (1,000 keys per request instead of one each).
 * A listing can only confirm: a key it does not show, or shows with another size or ETag, is
 * checked again with HeadObject, whose answer is the verdict. So a listing that lags (some
 * S3-compatible servers) costs a request, never a false result.
 */
export class BatchVerifier {
  private pending: Pending[] = [];
  private running = false;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly signal?: AbortSignal,
  ) {}

  verify(up: Uploaded): Promise<Verdict> {
    return new Promise((resolve, reject) => {
      this.pending.push({ up, settle: (v) => (v instanceof Error ? reject(v) : resolve(v)) });
      if (!this.running) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        await this.check(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async check(batch: Pending[]): Promise<void> {
    let rest = batch;
    if (batch.length > HEAD_BATCH) {
      try {
        const seen = await this.list(batch.map((p) => p.up.key));
        rest = [];
        for (const p of batch) {
          const s = seen.get(p.up.key);
          if (s && judge(p.up, s).ok) p.settle({ ok: true });
          else rest.push(p);
        }
      } catch {
        rest = batch; // a failed listing is only a missed shortcut
      }
    }
    await Promise.all(
      rest.map(async (p) => {
        p.settle(await verifyUpload(this.client, this.bucket, p.up, this.signal).catch((e: Error) => e));
      }),
    );
  }

  /** Lists the keys' range under their common prefix, reading at most KEYS_PER_CONFIRM keys per key. */
  private async list(keys: string[]): Promise<Map<string, Seen>> {
    const want = new Set(keys);
    const last = keys.reduce((a, b) => (a > b ? a : b));
    const first = keys.reduce((a, b) => (a < b ? a : b));
    const prefix = commonPrefix(keys);
    const cap = keys.length * KEYS_PER_CONFIRM;
    const seen = new Map<string, Seen>();
    let read = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, StartAfter: token ? undefined : first.slice(0, -1), MaxKeys: 1000 }),
        { abortSignal: this.signal },
      );
      for (const o of page.Contents ?? []) {
        read++;
        if (o.Key && want.has(o.Key)) seen.set(o.Key, { size: o.Size ?? -1, etag: (o.ETag ?? '').replace(/"/g, '') });
        if (o.Key && o.Key >= last) return seen;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token && read < cap);
    return seen;
  }
}
