import { formatBytes, formatDuration, logTime, type Log } from '../log.ts';

/** How often the heartbeat comes (FERRY_HEARTBEAT_SECONDS, the tests' knob, or 5 min). */
export const HEARTBEAT_MS = 5 * 60_000;
export const heartbeatMs = (env: NodeJS.ProcessEnv) => Number(env.FERRY_HEARTBEAT_SECONDS) * 1000 || HEARTBEAT_MS;

/** How every heartbeat line begins (after `ferry: `): `doe status` finds the last one in the uploaded log. */
export const HEARTBEAT = 'heartbeat: ';

/** What went up while the solver ran, so far. */
export interface UploadsSoFar {
  files: number;
  bytes: number;
  last?: { rel: string; at: number };
}

export interface HeartbeatOptions {
  log: Log;
  everyMs: number;
  /** When the solver started (ms since the epoch). */
  startedAt: number;
  /** Uploads so far; undefined when nothing goes up while the solver runs (--no-live-upload). */
  uploads?: () => UploadsSoFar;
  /** When the lease was last renewed (ms since the epoch). */
  leaseRenewal: () => number;
  /** After each heartbeat line: the run log so far goes to the output prefix (agent/prefix/run-log.ts). */
  after?: () => Promise<unknown>;
}

/**
 * The heartbeat line: `heartbeat: solver running for 1 h 2 min; 12 file(s), 3.4 GiB uploaded so far,
 * the last out/x.dat at 2026-12-02T01:52:40Z; lease renewed at 2026-12-02T01:52:01Z`. Totals and
 * times, never a rate: a since-start average only falls while a solver computes.
 */
export function heartbeatLine(now: number, o: Omit<HeartbeatOptions, 'log' | 'everyMs' | 'after'>): string {
  const parts = [`${HEARTBEAT}solver running for ${formatDuration(Math.floor((now - o.startedAt) / 1000))}`];
  const up = o.uploads?.();
  if (!up) parts.push('no live upload (outputs go up when the solver ends)');
  else if (up.files === 0) parts.push('no file uploaded yet');
  else
    parts.push(
      `${up.files} file(s), ${formatBytes(up.bytes)} uploaded so far` +
        (up.last ? `, the last ${up.last.rel} at ${logTime(up.last.at)}` : ''),
    );
  const renewed = o.leaseRenewal();
  parts.push(renewed ? `lease renewed at ${logTime(renewed)}` : 'lease not renewed yet');
  return parts.join('; ');
}

/**
 * While the solver runs: every `everyMs` one heartbeat line (on the console and in the run log), then
 * `after` (the run log uploaded). A heartbeat never overlaps the one before; `stop` waits for the one
 * under way, so nothing it sends lands after the run's own final copy of the log.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): this {
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.beating = this.beat().finally(next);
      }, this.o.everyMs);
      this.timer.unref();
    };
    next();
    return this;
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    const up = this.o.uploads?.();
    this.o.log.info(heartbeatLine(now, { ...this.o, uploads: up && (() => up) }), {
      solver_s: Math.floor((now - this.o.startedAt) / 1000),
      files: up?.files ?? 0,
      bytes: up?.bytes ?? 0,
      last_upload: up?.last ? { path: up.last.rel, at: logTime(up.last.at) } : null,
      lease_renewed_at: this.o.leaseRenewal() ? logTime(this.o.leaseRenewal()) : null,
    });
    await this.o.after?.();
  }

  /** No more heartbeats; resolves once the one under way (and its upload) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.beating;
  }
}
