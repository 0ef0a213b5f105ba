import { EXIT, FerryError } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import { MANIFEST, SUCCESS } from '../names.ts';
import type { Call, Store, Uploaded } from '../store/store.ts';

/** `failed`: the row failed before its solver started (its `error` says why; agent/run/failed.ts). */
export type RunStatus = 'complete' | 'solver-failed' | 'incomplete' | 'failed';

export interface Manifest {
  ferry: string;
  /** The same for every attempt of the row in one run directory. */
  run_id: string;
  status: RunStatus;
  started_at: string;
  ended_at: string;
  /** Why a `failed` row failed: the error as printed, its exit code and phase. */
  error?: { message: string; exit_code: number; phase: string };
  /** ETags bare, as in `outputs`. */
  inputs: Array<{ uri: string; etag: string; size: number }>;
  solver: {
    argv: string[];
    /** The solver's command as given to ferry run (argv adds the launcher of that node). */
    command?: string[];
    exit_code: number | null;
    signal: string | null;
    start_error?: string;
    /** Why the run stopped the solver when it did (`preempted`: an interruption notice; a signal). */
    stopped?: string;
  };
  /** The row's key (agent/prefix/row.ts): every attempt of the row shares it. */
  row?: string;
  /** The attempt that wrote this manifest. */
  attempt?: string;
  /** Every attempt of the row that wrote under the prefix, oldest first (from the journal). */
  attempts?: Array<{ attempt: string; host: string; job_id?: string; started_at: string }>;
  /** Every object under the prefix but ferry's own, with the attempt that wrote it. */
  /**
   * `checkpoint`: a checkpoint its attempt finished and verified (a resume point). The journal says so
   * while the row runs and goes once a complete manifest is written; an attempt killed between that
   * and `_SUCCESS` leaves the manifest the only word of it.
   */
  outputs: Array<{ path: string; size: number; sha256: string; etag: string; attempt?: string; checkpoint?: true }>;
  /** Files that are not verified in the store (they stay in the run directory). */
  not_uploaded: Array<{ path: string; error: string }>;
  /** Files the wipe leaves in the run directory, with the reason (not created by the run, links…). */
  kept: Array<{ path: string; reason: string }>;
}

/**
 * `m` as JSON.stringify(m, null, 2) writes it (and a newline), built with its arrays entry by entry in
 * pieces of 1 MiB: the manifest of 100,000 outputs is never one 20 MB string (it is a Buffer, off the heap).
 */
export function jsonBytes(m: object): Buffer {
  const pieces: Buffer[] = [];
  let pending = '';
  const out = (text: string) => {
    pending += text;
    if (pending.length < 1 << 20) return;
    pieces.push(Buffer.from(pending));
    pending = '';
  };
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
  pieces.push(Buffer.from(pending));
  return Buffer.concat(pieces);
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
 * Writes `<prefix>_manifest.json` from memory (no local file: a full disk cannot stop it), with
 * Content-MD5 and verified like every output. `_SUCCESS` comes after (markSuccess), and only for a
 * complete run.
 */
export async function putManifest(store: Store, prefix: Location, m: Manifest, signal?: AbortSignal): Promise<void> {
  const call = { phase: 'upload' as const, signal, what: 'writing the manifest' };
  const written = await store.putBytes(under(prefix, MANIFEST), jsonBytes(m), {
    ...call,
    contentType: 'application/json',
  });
  await verified(store, written!, call); // unconditional: always written or thrown
}

/** The empty `<prefix>_SUCCESS`: the last object ferry writes under the prefix of a complete run. */
export async function markSuccess(store: Store, prefix: Location, signal?: AbortSignal): Promise<void> {
  const call = { phase: 'upload' as const, signal, what: `writing ${SUCCESS}` };
  const success = under(prefix, SUCCESS);
  const written = await store.putBytes(success, Buffer.alloc(0), call);
  await verified(store, written!, call); // unconditional: always written or thrown
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isSize = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const shown = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x);

/** What keeps a parsed `_manifest.json` from being read as a ferry manifest (the fields readers use), or undefined. */
export function manifestProblem(m: unknown): string | undefined {
  if (!isObject(m)) return `it is ${shown(m)}, not an object`;
  if (typeof m.status !== 'string') return 'it has no status';
  if (!Array.isArray(m.outputs)) return 'it has no outputs list';
  for (const [i, o] of m.outputs.entries()) {
    if (!isObject(o)) return `outputs[${i}] is ${shown(o)}, not {path, size, sha256, etag}`;
    if (typeof o.path !== 'string' || !isSize(o.size)) return `outputs[${i}] has no path or size`;
    if (o.etag !== undefined && typeof o.etag !== 'string') return `outputs[${i}].etag is ${shown(o.etag)}`;
    if (o.sha256 !== undefined && typeof o.sha256 !== 'string') return `outputs[${i}].sha256 is ${shown(o.sha256)}`;
  }
  for (const [i, x] of (Array.isArray(m.inputs) ? m.inputs : []).entries())
    if (!isObject(x) || !isSize(x.size)) return `inputs[${i}] is ${shown(x)}, not {uri, etag, size}`;
  if (m.inputs !== undefined && !Array.isArray(m.inputs)) return 'its inputs are not a list';
  if (m.solver !== undefined && m.solver !== null && !isObject(m.solver)) return `its solver is ${shown(m.solver)}`;
  return undefined;
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
  let m: unknown;
  let problem: string | undefined;
  try {
    m = JSON.parse(got.body.toString('utf8'));
    problem = manifestProblem(m);
  } catch {
    problem = 'it is not JSON';
  }
  if (!problem) return m as Manifest;
  throw new UnreadableManifest(`not a ferry manifest, or a corrupt one: ${problem}`, {
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
