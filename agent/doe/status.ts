// The outcome of one DOE row, read back from its output prefix: the manifest, the _SUCCESS marker,
// the lease of a run under way, and what else is there. Speaks only the Store seam.
import { under, type Location } from '../location.ts';
import { isOwnObject, LEASE, MANIFEST, REHEARSAL, SUCCESS } from '../names.ts';
import { readJournal } from '../prefix/journal.ts';
import { LEASE_TTL_MS, viewLease } from '../prefix/lease-view.ts';
import { fetchManifest, UnreadableManifest, type Manifest } from '../prefix/manifest.ts';
import type { Call, Fetched, Store } from '../store/store.ts';
import { readLogTail, readProgress } from './log-tail.ts';

/** Every status, the ones that need attention first (the order of the HTML report and the counts). */
export const ROW_STATUSES = ['failed', 'solver-failed', 'incomplete', 'started', 'no-output', 'complete'] as const;
export type RowStatus = (typeof ROW_STATUSES)[number];

/** A row to look at: its name in reports, its output prefix, and its line of the run definition. */
export interface Row {
  name: string;
  output: Location;
  /** The row as read from the run definition file (kept as is for the retry file). */
  fields?: Record<string, string>;
}

export interface RowState {
  row: Row;
  status: RowStatus;
  /** The solver's exit code and signal, from the manifest. */
  exitCode: number | null;
  signal: string | null;
  /** Output files and bytes (from the manifest; what is under the prefix for a row without one). */
  files?: number;
  bytes?: number;
  seconds?: number;
  startedAt?: string;
  /** Where the attempt that wrote the manifest ran (its host). */
  host?: string;
  /** The ferry that wrote the manifest (its version line). */
  ferry?: string;
  /** Why the status is what it is, when the manifest alone does not say it. */
  note?: string;
  /** The last lines of the row's uploaded ferry.log (asked for rows that are not complete). */
  logTail?: string[];
  /** A running row's last heartbeat line (or last line) from the log it uploaded so far. */
  progress?: string;
  /** How many attempts of the row wrote under its prefix. */
  attempts?: number;
  /** The newest checkpoint an attempt journaled (a running or stopped row resumes from it). */
  checkpoint?: { path: string; at: string };
}

/** The lease of a run under way, in words: who holds it and whether it is still renewed (the store's clock). */
function leaseNote(lease: Fetched, now: number, ttlMs: number): string {
  const held = viewLease(lease);
  const ageMs = held.ageMs ?? now - (lease.info.modified?.getTime() ?? now);
  const ago = Math.max(0, Math.round(ageMs / 1000));
  const who = `${held.body.host} pid ${held.body.pid}`;
  return ago * 1000 < ttlMs
    ? `a run holds the lease (${who}, renewed ${ago} s ago)`
    : `the lease of a run on ${who} was not renewed for ${Math.round(ago / 60)} min: that run died ` +
        '(a later attempt of the row takes it)';
}

/** The row's attempts and its newest checkpoint, from the journal (a complete row's manifest has the attempts). */
async function attemptsOf(store: Store, row: Row, call: Call, m?: Manifest) {
  const j = await readJournal(store, row.output, call).catch(() => undefined);
  const attempts = m?.attempts?.length ? m.attempts.length : (j?.attempts.length ?? 0);
  let checkpoint: { path: string; at: string } | undefined;
  for (const e of j?.entries.values() ?? [])
    if (e.checkpoint && (!checkpoint || e.at > checkpoint.at)) checkpoint = { path: e.path, at: e.at };
  return { attempts, checkpoint };
}

function leaseLive(lease: Fetched, o: Clock): boolean {
  const held = viewLease(lease);
  return (held.ageMs ?? o.now - (lease.info.modified?.getTime() ?? o.now)) < o.ttlMs;
}

interface Clock {
  now: number;
  /** A lease not renewed for this long is stale. */
  ttlMs: number;
}

/** The status a manifest gives, checked against the marker. */
function fromManifest(m: Manifest, success: boolean): { status: RowStatus; note?: string } {
  if (m.status === 'complete')
    return success
      ? { status: 'complete' }
      : { status: 'incomplete', note: `the manifest says complete but there is no ${SUCCESS} (a re-run under way?)` };
  if (m.status === 'solver-failed' || m.status === 'incomplete') return { status: m.status };
  if (m.status === 'failed')
    return { status: 'failed', note: `failed before its solver started: ${m.error?.message ?? 'no error recorded'}` };
  return { status: 'incomplete', note: `the manifest has an unknown status '${String(m.status)}'` };
}

function described(m: Manifest): Omit<RowState, 'row' | 'status'> {
  const start = Date.parse(m.started_at);
  const end = Date.parse(m.ended_at);
  return {
    exitCode: m.error ? m.error.exit_code : m.solver?.start_error ? null : (m.solver?.exit_code ?? null),
    signal: m.solver?.signal ?? null,
    files: m.outputs.length,
    bytes: m.outputs.reduce((n, o) => n + o.size, 0),
    seconds: Number.isFinite(end - start) ? (end - start) / 1000 : undefined,
    startedAt: m.started_at,
    host: m.attempts?.at(-1)?.host,
    ferry: m.ferry,
    ...(m.solver?.start_error ? { note: `the solver could not start: ${m.solver.start_error}` } : {}),
  };
}

/** A row that was only rehearsed (`ferry doe rehearse`): what the rehearsal did, when and where. */
async function rehearsalNote(store: Store, row: Row, call: Call): Promise<string> {
  const at = under(row.output, REHEARSAL);
  const m = await fetchManifest(store, at, call).catch(() => undefined);
  const how = m ? `${m.status}, on ${m.attempts?.at(-1)?.host ?? '?'} at ${m.started_at}` : 'no manifest';
  return `the row never ran; only a rehearsal did (${how}, under ${REHEARSAL})`;
}

/** A row without a manifest: nothing there (no-output), or objects (started: running, or died). */
async function withoutManifest(store: Store, row: Row, lease: Fetched | undefined, call: Call, o: Clock) {
  const listed = await store.list(row.output, call);
  const rehearsed = listed.some((x) => x.key.startsWith(`${row.output.key}${REHEARSAL}`));
  const objects = listed.filter((x) => !x.key.startsWith(`${row.output.key}${REHEARSAL}`));
  const outputs = objects.filter((x) => !isOwnObject(x.key.slice(row.output.key.length)));
  if (objects.length === 0) {
    const note = rehearsed ? await rehearsalNote(store, row, call) : undefined;
    return { status: 'no-output' as const, exitCode: null, signal: null, ...(note ? { note } : {}) };
  }
  const note = lease
    ? leaseNote(lease, o.now, o.ttlMs)
    : `no ${MANIFEST} yet: still running, or the run died without one`;
  return {
    status: 'started' as const,
    exitCode: null,
    signal: null,
    files: outputs.length,
    bytes: outputs.reduce((n, o) => n + o.size, 0),
    note,
  };
}

/**
 * Reads one row's outcome: its manifest, `_SUCCESS` and lease side by side, then (without a
 * manifest) what is under its prefix. `logTail`: also the last lines of its uploaded ferry.log
 * when the row is not complete.
 */
export async function readRow(
  store: Store,
  row: Row,
  call: Call,
  o: { logTail?: boolean; now?: number; leaseTtlMs?: number } = {},
): Promise<RowState> {
  const clock = { now: o.now ?? Date.now(), ttlMs: o.leaseTtlMs ?? LEASE_TTL_MS };
  const unreadable = (err: unknown) => {
    if (err instanceof UnreadableManifest) return err;
    throw err;
  };
  const [manifest, success, lease] = await Promise.all([
    fetchManifest(store, row.output, call).catch(unreadable),
    store.fetch(under(row.output, SUCCESS), call),
    store.fetch(under(row.output, LEASE), call),
  ]);
  let state: RowState;
  if (manifest instanceof UnreadableManifest)
    state = { row, status: 'incomplete', exitCode: null, signal: null, note: `${MANIFEST}: ${manifest.message}` };
  else if (!manifest) state = { row, ...(await withoutManifest(store, row, lease, call, clock)) };
  else {
    const { status, note } = fromManifest(manifest, success !== undefined);
    const d = described(manifest);
    const notes = [
      note,
      d.note,
      lease && `${leaseNote(lease, clock.now, clock.ttlMs)}: this status is from an earlier attempt`,
    ];
    state = { row, ...d, status, note: notes.filter(Boolean).join('; ') || undefined };
  }
  if (state.status !== 'no-output') {
    const a = await attemptsOf(store, row, call, manifest instanceof UnreadableManifest ? undefined : manifest);
    if (a.attempts > 0) state.attempts = a.attempts;
    if (a.checkpoint && state.status !== 'complete') {
      state.checkpoint = a.checkpoint;
      const more = `newest checkpoint ${a.checkpoint.path} (${a.checkpoint.at})`;
      state.note = state.note ? `${state.note}; ${more}` : more;
    }
  }
  if (lease && leaseLive(lease, clock)) state.progress = await readProgress(store, row.output, call);
  if (o.logTail && state.status !== 'complete' && state.status !== 'no-output')
    state.logTail = await readLogTail(store, row.output, call);
  return state;
}
