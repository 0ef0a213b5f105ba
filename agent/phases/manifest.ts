import { closeSync, openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, FerryError } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import { MANIFEST, PART_SUFFIX, SUCCESS } from '../names.ts';
import type { Call, Store, Uploaded } from '../store/store.ts';

export type RunStatus = 'complete' | 'solver-failed' | 'incomplete';

export interface Manifest {
  ferry: string;
  /** The same for every attempt of the row in one run directory. */
  run_id: string;
  status: RunStatus;
  started_at: string;
  ended_at: string;
  /** ETags bare, as in `outputs`. */
  inputs: Array<{ uri: string; etag: string; size: number }>;
  solver: { argv: string[]; exit_code: number | null; signal: string | null; start_error?: string };
  outputs: Array<{ path: string; size: number; sha256: string; etag: string }>;
  /** Files that are not verified in the store (they stay in the run directory). */
  not_uploaded: Array<{ path: string; error: string }>;
  /** Files the wipe leaves in the run directory, with the reason (not created by the run, links…). */
  kept: Array<{ path: string; reason: string }>;
}

/**
 * Writes `m` as JSON.stringify(m, null, 2) would, with its arrays written entry by entry: the
 * manifest of 100,000 outputs is never one 20 MB string. Returns the bytes written.
 */
export function writeJson(path: string, m: object): number {
  const fd = openSync(path, 'w');
  let size = 0;
  let pending = '';
  const out = (text: string) => {
    pending += text;
    if (pending.length < 1 << 20) return;
    size += writeSync(fd, pending);
    pending = '';
  };
  try {
    const fields = Object.entries(m);
    out('{\n');
    fields.forEach(([k, v], i) => {
      out(`  ${JSON.stringify(k)}: `);
      if (Array.isArray(v) && v.length > 0) {
        out('[\n');
        v.forEach((x, j) =>
          out(`    ${JSON.stringify(x, null, 2).replace(/\n/g, '\n    ')}${j < v.length - 1 ? ',' : ''}\n`),
        );
        out('  ]');
      } else out(JSON.stringify(v, null, 2).replace(/\n/g, '\n  '));
      out(i < fields.length - 1 ? ',\n' : '\n');
    });
    out('}\n');
    size += writeSync(fd, pending);
  } finally {
    closeSync(fd);
  }
  return size;
}

/** Verifies one of the run's own objects (manifest, marker, log); one that does not verify is 73. */
export async function verified(store: Store, up: Uploaded, call: Call): Promise<void> {
  const v = await store.verify(up, call);
  if (!v.ok)
    throw new FerryError(`${formatUri(up.loc)} did not verify: ${v.reason}`, {
      phase: 'upload',
      target: formatUri(up.loc),
      exitCode: EXIT.cantCreate,
    });
}

/**
 * Writes `<prefix>_manifest.json`. It goes up as a file (from a temp file in `dir`), through the same
 * memory pool, Content-MD5 and verification as outputs. `_SUCCESS` comes after (markSuccess), and
 * only for a complete run.
 */
export async function putManifest(
  store: Store,
  prefix: Location,
  m: Manifest,
  dir: string,
  signal?: AbortSignal,
): Promise<void> {
  const call = { phase: 'upload' as const, signal, what: 'writing the manifest' };
  const tmp = join(dir, `${MANIFEST}${PART_SUFFIX}`);
  const size = writeJson(tmp, m);
  try {
    const opts = { ...call, sha256: false, contentType: 'application/json' };
    await verified(store, await store.putFile(tmp, size, under(prefix, MANIFEST), opts), call);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The empty `<prefix>_SUCCESS`: the last object ferry writes under the prefix of a complete run. */
export async function markSuccess(store: Store, prefix: Location, signal?: AbortSignal): Promise<void> {
  const call = { phase: 'upload' as const, signal, what: `writing ${SUCCESS}` };
  const success = under(prefix, SUCCESS);
  const written = await store.putBytes(success, Buffer.alloc(0), call);
  await verified(store, written!, call); // unconditional: always written or thrown
}

/** A `_manifest.json` that is not a ferry manifest (exit 65). */
export class UnreadableManifest extends FerryError {}

/**
 * The manifest under a prefix: undefined when there is none; throws a FerryError naming the object
 * when it is not a ferry manifest (not JSON, or no status).
 */
export async function fetchManifest(store: Store, prefix: Location, call: Call): Promise<Manifest | undefined> {
  const loc = under(prefix, MANIFEST);
  const got = await store.fetch(loc, { ...call, what: call.what ?? 'reading the manifest' });
  if (!got) return undefined;
  let m: Manifest | undefined;
  try {
    m = JSON.parse(got.body.toString('utf8')) as Manifest;
  } catch {
    // not JSON: reported below
  }
  if (m && typeof m === 'object' && typeof m.status === 'string' && Array.isArray(m.outputs)) return m;
  throw new UnreadableManifest('this is not a ferry manifest (not JSON, or no status and outputs)', {
    phase: call.phase,
    target: formatUri(loc),
    exitCode: EXIT.dataErr,
    hint: 'was it written by another tool? ferry run writes it; re-run the row to write it again',
  });
}

/** A re-run first withdraws the old `_SUCCESS`, so the prefix never claims to be complete while it changes. */
export async function withdrawSuccess(store: Store, prefix: Location, signal?: AbortSignal): Promise<void> {
  await store.remove(under(prefix, SUCCESS), { phase: 'upload', signal });
}
