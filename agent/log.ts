import { closeSync, openSync, writeSync } from 'node:fs';

export type LogFormat = 'text' | 'json';

export interface LogOptions {
  format?: LogFormat;
  /** Only errors and the solver's output reach the console (the run log keeps everything). */
  quiet?: boolean;
  /** Draw live progress bars (stderr is a terminal and the format is text). */
  tty?: boolean;
}

type Fields = Record<string, unknown>;

/**
 * The one writer of ferry's output. ferry's own lines go to stderr (`ferry: …`, or one JSON object
 * per line with --log-format json); the solver's stdout/stderr pass through (as JSON events in
 * JSON mode); everything is also appended to the run log (`ferry.log`) once a file is attached.
 * On a terminal a status line (progress bars) sits below the output and is redrawn around it.
 * Writes are synchronous: nothing is lost on exit, and lines never interleave mid-line.
 */
export class Log {
  private fd: number | undefined;
  private opts: Required<LogOptions>;
  private status = '';
  private readonly partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };

  constructor(opts: LogOptions = {}) {
    this.opts = { format: 'text', quiet: false, tty: false, ...opts };
  }

  get json(): boolean {
    return this.opts.format === 'json';
  }

  get tty(): boolean {
    return this.opts.tty && !this.json;
  }

  attachFile(path: string): void {
    this.fd = openSync(path, 'a');
  }

  detachFile(): void {
    this.setStatus('');
    for (const s of ['stdout', 'stderr'] as const) if (this.partial[s]) this.solverLine(s, this.partial[s]);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  info(msg: string, fields?: Fields): void {
    this.event('info', msg, fields, !this.opts.quiet);
  }

  /** Per-file details: into the run log only, never on the console. */
  detail(msg: string): void {
    this.toFile(`ferry: ${msg}\n`);
  }

  warn(msg: string, fields?: Fields): void {
    this.event('warning', msg, fields, !this.opts.quiet);
  }

  error(msg: string, fields?: Fields): void {
    this.event('error', msg, fields, true);
  }

  /** A progress report: shown every few seconds without a terminal, as JSON in JSON mode. */
  progress(msg: string, fields: Fields): void {
    this.event('progress', msg, fields, !this.opts.quiet);
  }

  /** The live status line under the output (terminal only); '' removes it. */
  setStatus(text: string): void {
    if (!this.tty) return;
    this.clearStatus();
    this.status = text;
    if (text) process.stderr.write(text);
  }

  /** Solver output, passed through as bytes (text) or as one JSON event per line. */
  solver(chunk: Buffer | string, stream: 'stdout' | 'stderr'): void {
    this.toFile(chunk);
    if (this.json) {
      const text = this.partial[stream] + chunk.toString();
      const lines = text.split('\n');
      this.partial[stream] = lines.pop()!;
      for (const l of lines) this.solverLine(stream, l);
      return;
    }
    this.around(() => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk));
  }

  private solverLine(stream: 'stdout' | 'stderr', line: string): void {
    process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), level: 'solver', stream, line })}\n`);
    this.partial[stream] = '';
  }

  private event(level: string, msg: string, fields: Fields | undefined, show: boolean): void {
    const prefix = level === 'info' || level === 'progress' ? 'ferry: ' : `ferry: ${level}: `;
    this.toFile(`${prefix}${msg}\n`);
    if (!show) return;
    if (this.json) process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
    else this.around(() => process.stderr.write(`${prefix}${msg}\n`));
  }

  /** Writes something on a terminal without mangling the status line. */
  private around(write: () => void): void {
    if (!this.status) return void write();
    const s = this.status;
    this.clearStatus();
    write();
    this.status = s;
    process.stderr.write(s);
  }

  private clearStatus(): void {
    if (this.status) process.stderr.write('\r\x1b[2K');
    this.status = '';
  }

  private toFile(data: Buffer | string): void {
    if (this.fd === undefined) return;
    try {
      if (typeof data === 'string') writeSync(this.fd, data);
      else writeSync(this.fd, data);
    } catch {
      // The run log is best effort: a full disk must not turn into a second failure here.
    }
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatRate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? (bytes * 1000) / ms : 0)}/s`;
}
