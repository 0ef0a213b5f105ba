// `ferry verify`: is an output prefix whole? Its manifest against what the store holds, through the
// Store seam only (so any store, any proxy, CA or credentials that store access uses).
import pLimit from 'p-limit';
import { under, type Location } from '../location.ts';
import { checkHeap } from '../heap.ts';
import { formatBytes } from '../log.ts';
import { isOwnObject, LEASE, MANIFEST, RUN_LOG_OBJECT, SUCCESS } from '../names.ts';
import { isStale, LEASE_TTL_MS, viewLease } from './lease-view.ts';
import { fetchManifest, UnreadableManifest, type Manifest } from './manifest.ts';
import { settleAll } from '../settle.ts';
import { sha256OfObject } from '../store/hash.ts';
import type { Call, ObjectInfo, Store } from '../store/store.ts';

export type FindingKind =
  'no-manifest' | 'corrupt' | 'status' | 'running' | 'missing' | 'changed' | 'sha256' | 'unlisted';

/** One way the prefix is not whole: what, where (a key under the prefix), and the details in words. */
export interface Finding {
  kind: FindingKind;
  key: string;
  detail: string;
}

export interface VerifyOptions {
  /** Also read every object and compare its SHA-256 with the manifest's. */
  deep: boolean;
  /** Accept a manifest whose status is not complete (check only that what it lists is intact). */
  anyStatus: boolean;
  /** Objects read at once with `deep`. */
  concurrency: number;
  signal?: AbortSignal;
  /** The lease is the caller's own (a run checking its prefix before `_SUCCESS`): not a run under way. */
  ownLease?: boolean;
  /** A lease not renewed for this long (by the store's clock) is a dead run's, not a run under way. */
  leaseTtlMs?: number;
}

export interface VerifyResult {
  manifest?: Manifest;
  /** The manifest is not ferry's, or corrupt (the command exits 65 once every prefix is checked). */
  corrupt?: boolean;
  findings: Finding[];
  /** Outputs the manifest lists, and their bytes. */
  objects: number;
  bytes: number;
}

type Output = Manifest['outputs'][number];

/** Whether a run holds the lease now (runUnderWay). */
interface Live {
  running: boolean;
}

/**
 * A run holds the prefix's lease now: it is there, renewed within its TTL by the store's clock, and its
 * holder is not a process of this host that has ended. A dead run's lease (it was killed in its wipe,
 * or could not delete it) is no run under way: `doe status` and a later attempt see it so too.
 */
async function runUnderWay(store: Store, prefix: Location, o: VerifyOptions, call: Call): Promise<boolean> {
  const got = await store.fetch(under(prefix, LEASE), { ...call, what: 'reading the lease' });
  if (!got) return false;
  return !isStale(viewLease(got), o.leaseTtlMs ?? LEASE_TTL_MS);
}

/** The manifest's status and the marker: a prefix is whole only when a run completed it. */
function statusFindings(m: Manifest, listed: Map<string, ObjectInfo>, prefix: Location, o: VerifyOptions & Live) {
  const { anyStatus } = o;
  const out: Finding[] = [];
  if (o.running)
    out.push({ kind: 'running', key: LEASE, detail: 'a run holds the lease: it is writing under this prefix now' });
  if (anyStatus) return out;
  const solver = m.solver?.signal ?? m.solver?.exit_code ?? m.solver?.start_error ?? '-';
  if (m.status !== 'complete')
    out.push({
      kind: 'status',
      key: MANIFEST,
      detail: `the manifest says ${m.status} (solver: ${solver}), not complete (--any-status checks it anyway)`,
    });
  else if (!listed.has(`${prefix.key}${SUCCESS}`))
    out.push({ kind: 'status', key: SUCCESS, detail: `the manifest says complete but there is no ${SUCCESS}` });
  return out;
}

/** One listed output: present with the manifest's size and ETag? The store decides an ETag it shows otherwise. */
async function checkOne(
  store: Store,
  prefix: Location,
  o: Output,
  seen: ObjectInfo | undefined,
  call: Call,
): Promise<Finding | undefined> {
  if (!seen) return { kind: 'missing', key: o.path, detail: `not in the store (${formatBytes(o.size)})` };
  if (seen.size !== o.size)
    return {
      kind: 'changed' as const,
      key: o.path,
      detail: `${seen.size} bytes in the store, ${o.size} in the manifest`,
    };
  if (!o.etag || seen.etag === o.etag) return undefined;
  // A listing may show an ETag that is not an MD5 (SSE-KMS): the store's own check decides.
  const v = await store.verify({ loc: under(prefix, o.path), size: o.size, digest: o.etag, etag: o.etag }, call);
  return v.ok
    ? undefined
    : { kind: 'changed', key: o.path, detail: `ETag ${seen.etag} in the store, ${o.etag} in the manifest` };
}

/** Reads every output that passed the quick check and compares its SHA-256, `concurrency` at a time. */
async function deepFindings(store: Store, prefix: Location, todo: Array<[Output, ObjectInfo]>, o: VerifyOptions) {
  const limit = pLimit(o.concurrency);
  const call = { phase: 'download' as const, signal: o.signal, what: 'reading the object (--deep)' };
  const found = await settleAll(
    todo.map(([out, info]) =>
      limit(async (): Promise<Finding | undefined> => {
        if (!out.sha256) return { kind: 'sha256', key: out.path, detail: 'the manifest has no sha256 for it' };
        const got = await sha256OfObject(store, under(prefix, out.path), info, call);
        return got === out.sha256
          ? undefined
          : { kind: 'sha256', key: out.path, detail: `sha256 ${got} read, ${out.sha256} in the manifest` };
      }),
    ),
  );
  return found.filter((f): f is Finding => f !== undefined);
}

/** Objects under the prefix the manifest does not list (ferry's own objects at its top aside). */
function unlisted(prefix: Location, m: Manifest, listed: Map<string, ObjectInfo>): Finding[] {
  const expected = new Set([...m.outputs.map((o) => o.path), MANIFEST, SUCCESS, RUN_LOG_OBJECT, LEASE]);
  return [...listed.values()]
    .map((info) => ({ info, rel: info.key.slice(prefix.key.length) }))
    .filter(({ rel }) => !expected.has(rel) && !isOwnObject(rel))
    .map(({ info, rel }) => ({
      kind: 'unlisted' as const,
      key: rel,
      detail: `${formatBytes(info.size)}, not in the manifest`,
    }));
}

/**
 * Checks a prefix against its manifest: the status (complete, with _SUCCESS, no run under way),
 * every listed output present with its size and ETag (`deep`: and its SHA-256, read in full),
 * and no object the manifest does not list.
 */
export async function verifyPrefix(store: Store, prefix: Location, o: VerifyOptions): Promise<VerifyResult> {
  const call = { phase: 'download' as const, signal: o.signal };
  const m = await fetchManifest(store, prefix, call).catch((err) => {
    if (err instanceof UnreadableManifest) return err;
    throw err;
  });
  if (m instanceof UnreadableManifest)
    return { findings: [{ kind: 'corrupt', key: MANIFEST, detail: m.message }], objects: 0, bytes: 0, corrupt: true };
  if (!m) {
    const detail = 'no manifest: the row has not finished (or never ran), or this is not an output prefix';
    return { findings: [{ kind: 'no-manifest', key: MANIFEST, detail }], objects: 0, bytes: 0 };
  }
  checkHeap(); // the manifest read back and parsed (20,000 outputs: a few MB of JSON)
  const listed = new Map((await store.list(prefix, call)).map((x) => [x.key, x]));
  const running = listed.has(`${prefix.key}${LEASE}`) && !o.ownLease && (await runUnderWay(store, prefix, o, call));
  const findings = statusFindings(m, listed, prefix, { ...o, running });
  const quick = await settleAll(
    m.outputs.map((out) => checkOne(store, prefix, out, listed.get(`${prefix.key}${out.path}`), call)),
  );
  findings.push(...quick.filter((f): f is Finding => f !== undefined));
  if (o.deep) {
    // Every object there with the manifest's size is read, an ETag that differs or not.
    const todo = m.outputs
      .map((out): [Output, ObjectInfo | undefined] => [out, listed.get(`${prefix.key}${out.path}`)])
      .filter((x): x is [Output, ObjectInfo] => x[1]?.size === x[0].size);
    findings.push(...(await deepFindings(store, prefix, todo, o)));
  }
  findings.push(...unlisted(prefix, m, listed));
  return { manifest: m, findings, objects: m.outputs.length, bytes: m.outputs.reduce((n, x) => n + x.size, 0) };
}
