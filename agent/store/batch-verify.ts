import type { Uploaded, Verdict } from './store.ts';

/** What a store shows for one key: its size, digest (ObjectInfo.digest), and whether that says nothing (SSE-KMS). */
export interface Seen {
  size: number;
  digest?: string;
  opaqueDigest?: boolean;
}

/** How a store answers for keys: one HEAD, or a listing of keys in order from a point. */
export interface VerifySource {
  head(key: string, signal?: AbortSignal): Promise<Seen>;
  /**
   * Keys under `prefix` after `startAfter`, in order, page by page (stop iterating to stop), pages of
   * at most `pageSize` keys (1,000 when not said: the most S3 and Azure give).
   */
  list(
    prefix: string,
    startAfter: string,
    signal?: AbortSignal,
    pageSize?: number,
  ): AsyncIterable<{ key: string } & Seen>;
}

/** How a store names itself and its digest in verdicts: 'S3' and 'ETag', 'Azure' and 'Content-MD5'. */
export interface Names {
  where: string;
  digest: string;
}

/** Whether what the store shows is what was sent. */
export function judge(up: Uploaded, seen: Seen, names: Names): Verdict {
  const { where, digest } = names;
  if (seen.size !== up.size) return { ok: false, reason: `size in ${where} is ${seen.size}, local file is ${up.size}` };
  if (seen.opaqueDigest) return { ok: true };
  if (seen.digest !== up.digest)
    return { ok: false, reason: `${digest} in ${where} is ${seen.digest || '(none)'}, expected ${up.digest}` };
  return { ok: true };
}

/** Batches this small or smaller are checked with one HEAD each. */
const HEAD_BATCH = 3;
/** A listing that reads more than this many keys per key it confirms is cut short (HEAD the rest). */
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
 * then checked together. A group of a few is checked with a HEAD per key; a larger group with one
 * listing over the keys' common prefix (1,000 keys per request instead of one each). A listing can
 * only confirm: a key it does not show, or shows with another size or digest, is checked again with
 * HEAD, whose answer is the verdict. So a listing that lags (some S3-compatible servers) costs a
 * request, never a false result.
 */
export class BatchVerifier {
  private pending: Pending[] = [];
  private running = false;

  constructor(
    private readonly source: VerifySource,
    /** The store's names in verdicts. */
    private readonly where: Names,
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
      while (this.pending.length > 0) await this.check(this.pending.splice(0));
    } finally {
      this.running = false;
    }
  }

  private async check(batch: Pending[]): Promise<void> {
    let rest = batch;
    if (batch.length > HEAD_BATCH) {
      try {
        const seen = await this.list(batch.map((p) => p.up.loc.key));
        rest = [];
        for (const p of batch) {
          const s = seen.get(p.up.loc.key);
          if (s && judge(p.up, s, this.where).ok) p.settle({ ok: true });
          else rest.push(p);
        }
      } catch {
        rest = batch; // a failed listing is only a missed shortcut
      }
    }
    await Promise.all(
      rest.map(async (p) => {
        p.settle(
          await this.source.head(p.up.loc.key, this.signal).then(
            (s) => judge(p.up, s, this.where),
            (e: Error) => e,
          ),
        );
      }),
    );
  }

  /** Lists the keys' range under their common prefix, reading at most KEYS_PER_CONFIRM keys per key. */
  private async list(keys: string[]): Promise<Map<string, Seen>> {
    const want = new Set(keys);
    const last = keys.reduce((a, b) => (a > b ? a : b));
    const first = keys.reduce((a, b) => (a < b ? a : b));
    const cap = keys.length * KEYS_PER_CONFIRM;
    const seen = new Map<string, Seen>();
    let read = 0;
    // One page as long as the most it reads (at most 1,000): the server lists, and ferry parses, what
    // a page holds, and past that nothing is wanted (the row's 500 logs were checked in 4 listings
    // that read ~1,000 keys for 500). Not shorter: a group's keys lie spread over a range (uploads
    // end out of order), and a page per round trip.
    const page = Math.min(1000, cap);
    for await (const o of this.source.list(commonPrefix(keys), first.slice(0, -1), this.signal, page)) {
      read++;
      if (want.has(o.key)) seen.set(o.key, o);
      if (o.key >= last || read >= cap) break;
    }
    return seen;
  }
}
