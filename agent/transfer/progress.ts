import { formatBytes, formatRate, type Log } from '../log.ts';

/** Counters of one phase (download, extract, upload): what the display renders. */
export class PhaseProgress {
  bytes = 0;
  files = 0;
  readonly started = Date.now();
  ended: number | undefined;

  constructor(
    readonly phase: string,
    public totalBytes?: number,
    public totalFiles?: number,
  ) {}

  addBytes = (n: number): void => {
    this.bytes += n;
  };

  addFile = (): void => {
    this.files++;
  };

  get ms(): number {
    return (this.ended ?? Date.now()) - this.started;
  }

  /** "download 12.0 MiB of 56.5 MiB (21%), 3/10 files, 40.1 MiB/s, ETA 2 s" */
  describe(): string {
    const parts = [`${this.phase} ${formatBytes(this.bytes)}${this.ofTotal()}`];
    if (this.totalFiles !== undefined || this.files > 0)
      parts.push(`${this.files}${this.totalFiles !== undefined ? `/${this.totalFiles}` : ''} files`);
    parts.push(formatRate(this.bytes, this.ms));
    const eta = this.eta();
    if (eta !== undefined) parts.push(`ETA ${eta} s`);
    return parts.join(', ');
  }

  private ofTotal(): string {
    if (!this.totalBytes) return '';
    return ` of ${formatBytes(this.totalBytes)} (${Math.floor((100 * this.bytes) / Math.max(1, this.totalBytes))}%)`;
  }

  bar(width = 20): string {
    if (!this.totalBytes) return '';
    const filled = Math.min(width, Math.round((width * this.bytes) / this.totalBytes));
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] `;
  }

  fields(): Record<string, unknown> {
    return {
      phase: this.phase,
      bytes: this.bytes,
      total_bytes: this.totalBytes,
      files: this.files,
      total_files: this.totalFiles,
      duration_ms: this.ms,
    };
  }

  private eta(): number | undefined {
    if (!this.totalBytes || this.bytes === 0 || this.bytes >= this.totalBytes) return undefined;
    return Math.ceil(((this.totalBytes - this.bytes) * this.ms) / this.bytes / 1000);
  }
}

/**
 * Shows the phases under way: on a terminal a status line of bars redrawn 4× a second; otherwise
 * one plain line per phase every 10 s at most (the platform keeps stdout in a log file), as JSON
 * events with --log-format json. Phases that end leave their numbers for the final summary.
 */
export class Progress {
  private readonly active = new Set<PhaseProgress>();
  readonly done: PhaseProgress[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly lastLine = new Map<PhaseProgress, number>();

  constructor(
    private readonly log: Log,
    private readonly everyMs = 10_000,
  ) {}

  /**
   * `lines: false`: no periodic line for this phase without a terminal (the live upload: the heartbeat,
   * agent/transfer/heartbeat.ts, says how it stands every few minutes instead).
   */
  start(phase: string, totals: { bytes?: number; files?: number } = {}, o: { lines?: boolean } = {}): PhaseProgress {
    const p = new PhaseProgress(phase, totals.bytes, totals.files);
    this.active.add(p);
    if (o.lines !== false) this.lastLine.set(p, Date.now());
    this.timer ??= setInterval(() => this.tick(), this.log.tty ? 250 : 1000);
    this.timer.unref();
    if (this.log.tty) this.tick();
    return p;
  }

  end(p: PhaseProgress): void {
    p.ended = Date.now();
    this.active.delete(p);
    this.done.push(p);
    if (this.active.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.log.setStatus('');
    }
  }

  private tick(): void {
    if (this.log.tty) {
      const shown = [...this.active].filter((p) => p.totalBytes || p.bytes > 0 || p.files > 0);
      this.log.setStatus(shown.map((p) => `${p.bar()}${p.describe()}`).join('  |  '));
      return;
    }
    const now = Date.now();
    for (const p of this.active) {
      const last = this.lastLine.get(p);
      if (last === undefined || now - last < this.everyMs) continue;
      this.lastLine.set(p, now);
      this.log.progress(p.describe(), p.fields());
    }
  }
}
