// How ferry finds the processes of a run, however they detach. With ferry's native addon
// (agent/native/) ferry is the child subreaper of its processes (prctl(PR_SET_CHILD_SUBREAPER)): an
// orphan of the run — a helper started with `setsid nohup … &` whose parent exited, ranks of a killed
// mpirun — is re-parented to ferry, not to init. Orphans of the run are then the children of ferry
// that ferry did not spawn, and everything below them; ferry reaps them once they exit (libuv waits
// only for the children it spawned). Processes ferry spawns itself outside the run (a
// credential_process, and what it leaves behind) carry ferry's own mark and are left alone. Without
// the addon, the run's processes are those that carry FERRY_RUN_MARK or were seen below the launcher.
import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadNative, type Native, type NativeLoad } from '../native/index.ts';
import { descendants, findMarked, processTable, type Proc } from './process-tree.ts';

/** In ferry's own environment (not the solver's): what ferry spawns outside the run carries it. */
export const HELPER_MARK = 'FERRY_HELPER_MARK';

/**
 * The children this process spawned and libuv has not reaped yet: pid → start time (for those found
 * already running when the watch began — tsx's esbuild service from source — so a reused pid is not
 * mistaken for one of them), or undefined (spawned since, removed on their exit).
 */
const spawned = new Map<number, number | undefined>();
let watching = false;

function ferrySpawned(pid: number, start: number): boolean {
  if (!spawned.has(pid)) return false;
  const at = spawned.get(pid);
  return at === undefined || at === start;
}

/**
 * Records every child this process spawns (the launcher, `mpirun --version`, a credential_process the
 * SDK runs): only children ferry did not spawn are adopted orphans, and those alone may be reaped — a
 * pid reaped behind libuv's back would lose its exit status. Node has no hook for this but the method
 * every spawn goes through (child_process.spawn, exec, execFile and execa all call it).
 */
function watchSpawns(): void {
  if (watching) return;
  watching = true;
  for (const [pid, s] of processTable()) if (s.ppid === process.pid) spawned.set(pid, s.start);
  // Not in Node's types: ChildProcess.prototype.spawn(options), which child_process.spawn() calls.
  const proto = ChildProcess.prototype as unknown as { spawn: (this: ChildProcess, ...a: unknown[]) => unknown };
  const original = proto.spawn;
  proto.spawn = function (this: ChildProcess, ...args: unknown[]) {
    const r = original.apply(this, args);
    const pid = this.pid;
    if (pid !== undefined) {
      spawned.set(pid, undefined);
      this.once('exit', () => spawned.delete(pid));
    }
    return r;
  };
}

function envHas(pid: number, needle: Buffer): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`);
    return env.includes(needle) || env.subarray(0, needle.length - 1).equals(needle.subarray(1));
  } catch {
    return false;
  }
}

export class RunProcesses {
  private constructor(
    private readonly native: Native | undefined,
    private readonly helperNeedle: Buffer,
  ) {}

  /**
   * Makes ferry the subreaper of what it starts from now on and marks its own helpers; or says, once,
   * why it cannot (the addon did not load) and falls back to the run mark and the launcher's tree.
   */
  static start(warn: (msg: string) => void): RunProcesses {
    watchSpawns();
    process.env[HELPER_MARK] ??= randomBytes(8).toString('hex');
    const helperNeedle = Buffer.from(`\0${HELPER_MARK}=${process.env[HELPER_MARK]}\0`);
    const l: NativeLoad = process.env.FERRY_TEST_NO_NATIVE
      ? { ok: false, why: 'FERRY_TEST_NO_NATIVE is set (tests only): the native addon is not used' }
      : loadNative();
    let native: Native | undefined;
    let why = l.ok ? '' : l.why;
    if (l.ok) {
      try {
        l.native.setChildSubreaper();
        native = l.native;
      } catch (err) {
        why = (err as Error).message;
      }
    }
    if (!native)
      warn(
        `${why}: ferry finds the run's processes by FERRY_RUN_MARK and by watching the launcher's tree ` +
          'only (a helper that drops the mark and detaches at once can go unseen)',
      );
    return new RunProcesses(native, helperNeedle);
  }

  /** True when orphans of the run come to ferry (the subreaper is on). */
  get adopting(): boolean {
    return this.native !== undefined;
  }

  /** Children of ferry it did not spawn and that are not its own helpers', each with everything below it. */
  orphans(): Proc[] {
    if (!this.native) return [];
    const table = processTable();
    const out: Proc[] = [];
    for (const [pid, s] of table) {
      if (s.ppid !== process.pid || ferrySpawned(pid, s.start) || envHas(pid, this.helperNeedle)) continue;
      out.push(...descendants(pid, table).filter((p) => p.state !== 'Z'));
    }
    return out;
  }

  /**
   * Every process of the run still alive: marked with `markName=mark`, adopted orphans and what is
   * below them, and `seen` (processes seen below the launcher earlier) that still run.
   */
  leftovers(markName: string, mark: string, seen: Proc[], isAlive: (p: Proc) => boolean): Proc[] {
    const byKey = new Map<string, Proc>();
    // Read now wins over seen earlier: a process seen before its exec (env, setsid, nohup) is named as it is.
    for (const p of [...seen.filter(isAlive), ...findMarked(markName, mark), ...this.orphans()])
      byKey.set(`${p.pid}:${p.start}`, p);
    return [...byKey.values()];
  }

  /** Reaps adopted orphans that have exited (zombies); how many. Never a child libuv spawned. */
  reap(): number {
    if (!this.native) return 0;
    let n = 0;
    for (const [pid, s] of processTable()) {
      if (s.ppid !== process.pid || s.state !== 'Z' || ferrySpawned(pid, s.start)) continue;
      if (this.native.reap(pid) === pid) n++;
    }
    return n;
  }
}
