import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * The one writer of ferry's output. ferry's own lines go to stderr (prefixed `ferry:`), the
 * solver's stdout/stderr pass through untouched; everything is also appended to the run log
 * (`ferry.log`) once a file is attached. Writes are synchronous so nothing is lost on exit and
 * lines from different sources never interleave mid-line.
 */
export class Log {
  private fd: number | undefined;
  private readonly quiet: boolean;

  constructor(opts: { quiet?: boolean } = {}) {
    this.quiet = opts.quiet ?? false;
  }

  attachFile(path: string): void {
    this.fd = openSync(path, 'a');
  }

  detachFile(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  info(msg: string): void {
    if (!this.quiet) process.stderr.write(`ferry: ${msg}\n`);
    this.toFile(`ferry: ${msg}\n`);
  }

  /** Per-file details: into the run log only, never on the console. */
  detail(msg: string): void {
    this.toFile(`ferry: ${msg}\n`);
  }

  warn(msg: string): void {
    this.emit(`ferry: warning: ${msg}\n`);
  }

  error(msg: string): void {
    this.emit(`ferry: error: ${msg}\n`);
  }

  /** Solver output, passed through as bytes. */
  solver(chunk: Buffer | string, stream: 'stdout' | 'stderr'): void {
    (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
    this.toFile(chunk);
  }

  private emit(line: string): void {
    process.stderr.write(line);
    this.toFile(line);
  }

  private toFile(data: Buffer | string): void {
    if (this.fd === undefined) return;
    try {
      if (typeof data === "string") writeSync(this.fd, data);
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
