import { readdirSync, readFileSync } from 'node:fs';

/** A process, told apart from a later one with the same pid by its start time (clock ticks since boot). */
export interface Proc {
  pid: number;
  start: number;
  /** Its command line, for log lines. */
  command: string;
  /** Its state when it was seen (R, S, Z…). */
  state?: string;
}

export interface Stat {
  ppid: number;
  start: number;
  state: string;
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]), start: Number(f[19]) };
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    return raw.length > 120 ? `${raw.slice(0, 117)}...` : raw;
  } catch {
    return '?';
  }
}

function pids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .map(Number);
  } catch {
    return [];
  }
}

/** Every process now (from /proc; Linux): pid → parent, start time, state. */
export function processTable(): Map<number, Stat> {
  const stats = new Map<number, Stat>();
  for (const p of pids()) {
    const s = readStat(p);
    if (s) stats.set(p, s);
  }
  return stats;
}

/** `pid` and every process below it, parents first (from `table`, else /proc now). */
export function descendants(pid: number, table = processTable()): Proc[] {
  const children = new Map<number, number[]>();
  for (const [p, s] of table) {
    const list = children.get(s.ppid) ?? [];
    list.push(p);
    children.set(s.ppid, list);
  }
  const out: Proc[] = [];
  const walk = (p: number) => {
    const s = table.get(p);
    if (s) out.push({ pid: p, start: s.start, command: commandOf(p), state: s.state });
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** True while this very process (same pid and start time) exists and is not a zombie. */
export function isAlive(p: Proc): boolean {
  const s = readStat(p.pid);
  return !!s && s.start === p.start && s.state !== 'Z' && s.state !== 'X';
}

/**
 * Processes whose environment holds `name=value`: what the run started, wherever they went
 * (Open MPI ranks in their own process groups, helpers that detached with setsid and re-parented to
 * init). Only processes of this user (or all, as root) can be read. ferry itself is left out.
 */
export function findMarked(name: string, value: string): Proc[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const first = Buffer.from(`${name}=${value}\0`);
  const out: Proc[] = [];
  for (const pid of pids()) {
    if (pid === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue;
    }
    if (!(env.includes(needle) || env.subarray(0, first.length).equals(first))) continue;
    const s = readStat(pid);
    if (s && s.state !== 'Z') out.push({ pid, start: s.start, command: commandOf(pid) });
  }
  return out;
}

function signal(p: Proc, sig: NodeJS.Signals): void {
  if (!isAlive(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // gone meanwhile
  }
}

/** Sends `signal` to `pid` and all its descendants, leaves first. */
export function killTree(pid: number, sig: NodeJS.Signals): void {
  for (const p of descendants(pid).reverse()) signal(p, sig);
}

/**
 * Stops `procs`: SIGTERM, up to `graceMs` for them to go, then SIGKILL for what remains (and up to
 * 5 s for the kernel to reap them). Resolves with the processes that had to be killed.
 */
export async function stopProcesses(procs: Proc[], graceMs: number, signal_?: AbortSignal): Promise<Proc[]> {
  for (const p of procs) signal(p, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (procs.some(isAlive) && Date.now() < until && !signal_?.aborted) await new Promise((r) => setTimeout(r, 100));
  const killed = procs.filter(isAlive);
  for (const p of killed) signal(p, 'SIGKILL');
  for (let i = 0; i < 50 && killed.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
  return killed;
}
