import { rm, writeFile } from 'node:fs/promises';
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

async function verified(store: Store, up: Uploaded, call: Call): Promise<void> {
  const v = await store.verify(up, call);
  if (!v.ok)
    throw new FerryError(`${formatUri(up.loc)} did not verify: ${v.reason}`, {
      phase: 'upload',
      target: formatUri(up.loc),
      exitCode: EXIT.cantCreate,
    });
}

/**
 * Writes `<prefix>_manifest.json`, then — only for a complete run — the empty `<prefix>_SUCCESS`,
 * which is always the last object ferry writes under the prefix. The manifest goes up as a file
 * (from a temp file in `dir`), through the same memory pool, Content-MD5 and verification as outputs.
 */
export async function publishManifest(
  store: Store,
  prefix: Location,
  m: Manifest,
  dir: string,
  signal?: AbortSignal,
): Promise<void> {
  const call = { phase: 'upload' as const, signal, what: 'writing the manifest' };
  const tmp = join(dir, `${MANIFEST}${PART_SUFFIX}`);
  const body = Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
  await writeFile(tmp, body);
  try {
    await verified(
      store,
      await store.putFile(tmp, body.length, under(prefix, MANIFEST), {
        ...call,
        sha256: false,
        contentType: 'application/json',
      }),
      call,
    );
  } finally {
    await rm(tmp, { force: true });
  }
  if (m.status !== 'complete') return;
  const success = under(prefix, SUCCESS);
  const written = await store.putBytes(success, Buffer.alloc(0), { ...call, what: `writing ${SUCCESS}` });
  await verified(store, written!, call); // unconditional: always written or thrown
}

/** A re-run first withdraws the old `_SUCCESS`, so the prefix never claims to be complete while it changes. */
export async function withdrawSuccess(store: Store, prefix: Location, signal?: AbortSignal): Promise<void> {
  await store.remove(under(prefix, SUCCESS), { phase: 'upload', signal });
}
