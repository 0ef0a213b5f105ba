// The lease object as read back: who holds the prefix, for which row, and how long ago it was renewed by
// the store's own clock (its LastModified against the Date of the same answer), never this node's.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Fetched } from '../store/store.ts';

/** A lease not renewed for this long is stale: its holder is taken to be dead (FERRY_LEASE_TTL_SECONDS in tests). */
export const LEASE_TTL_MS = 3 * 60 * 1000;

/** The TTL of leases for a command run in `env`: FERRY_LEASE_TTL_SECONDS (the tests' knob) or LEASE_TTL_MS. */
export const leaseTtlMs = (env: NodeJS.ProcessEnv) => Number(env.FERRY_LEASE_TTL_SECONDS) * 1000 || LEASE_TTL_MS;

/** What the lease object holds. */
export interface LeaseBody {
  /** The row's key (prefix/row.ts): attempts of the same row share it. */
  row: string;
  /** This attempt. */
  attempt: string;
  /** The run id of the run directory (older leases carry only this). */
  run_id: string;
  host: string;
  pid: number;
  /** The holder's start time in clock ticks since boot: a reused pid is not taken for it. */
  pid_start?: number;
  ferry: string;
  job_id?: string;
  inputs?: Array<{ uri: string; etag: string }>;
  solver?: string[];
  started_at: string;
  /** The holder's own clock: for people only (freshness is judged by the store's clock). */
  heartbeat_at: string;
}

/** Ages are read off clocks of whole seconds (LastModified, Date): a lease is stale only this much past its TTL. */
export const CLOCK_GRAIN_MS = 1000;

export interface HeldLease {
  body: LeaseBody;
  etag: string;
  /** Milliseconds since its last renewal by the store's clock; undefined when the store gave no Date. */
  ageMs?: number;
  /** The holder ran on this host and its process is gone: the lease is free at once. */
  holderGone: boolean;
}

const UNREADABLE: LeaseBody = {
  row: '?',
  attempt: '(unreadable lease)',
  run_id: '(unreadable lease)',
  host: '?',
  pid: 0,
  ferry: '?',
  started_at: '',
  heartbeat_at: '',
};

/** This process's start time in clock ticks since boot (/proc/self/stat field 22). */
export function ownStart(pid: number | 'self' = 'self'): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

function holderGone(b: LeaseBody): boolean {
  if (b.host !== hostname() || !b.pid) return false;
  const start = ownStart(b.pid);
  return start === undefined || (b.pid_start !== undefined && start !== b.pid_start);
}

/**
 * The lease is a dead run's: its holder was on this host and has ended, or it was not renewed for its
 * TTL by the store's clock (a clock grain past it). A lease whose age the store did not tell is not.
 */
export function isStale(held: HeldLease, ttlMs: number): boolean {
  return held.holderGone || (held.ageMs !== undefined && held.ageMs >= ttlMs + CLOCK_GRAIN_MS);
}

export function viewLease(got: Fetched): HeldLease {
  let body: LeaseBody;
  try {
    const raw = JSON.parse(got.body.toString('utf8')) as Partial<LeaseBody>;
    body = { ...UNREADABLE, ...raw, row: raw.row ?? `run:${raw.run_id}`, attempt: raw.attempt ?? raw.run_id ?? '?' };
  } catch {
    body = UNREADABLE;
  }
  const modified = got.info.modified?.getTime();
  const now = got.serverDate?.getTime();
  const ageMs = modified !== undefined && now !== undefined ? Math.max(0, now - modified) : undefined;
  return { body, etag: got.info.etag, ageMs, holderGone: holderGone(body) };
}

/** Who holds it, in words: `run R on node-7 (pid 42, attempt A, ferry …), renewed 13 s ago: another row (…)`. */
export function describeHolder(h: HeldLease, sameRow?: boolean): string {
  const b = h.body;
  const renewed = h.ageMs === undefined ? 'renewal time unknown' : `renewed ${Math.round(h.ageMs / 1000)} s ago`;
  const age = h.holderGone ? `${renewed}, its process gone from this host` : renewed;
  const whose = sameRow === undefined ? '' : sameRow ? ': an earlier attempt of this row' : `: another row (${b.row})`;
  const job = b.job_id ? `, job ${b.job_id}` : '';
  const attempt = b.attempt !== b.run_id ? `, attempt ${b.attempt}` : '';
  return `run ${b.run_id} on ${b.host} (pid ${b.pid}${job}${attempt}, ${b.ferry}), ${age}${whose}`;
}
