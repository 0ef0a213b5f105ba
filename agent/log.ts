import { closeSync, openSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { RUN_LOG as RUN_LOG_NAME } from './names.ts';
import { Masker } from './secrets.ts';

export type LogFormat = 'text' | 'json';

export interface LogOptions {
  format?: LogFormat;
  /** Only errors and the solver's output reach the console (the run log keeps everything). */
  quiet?: boolean;
  /** Draw live progress bars (stderr is a terminal and the format is text). */
  tty?: boolean;
}

type Fields = Record<string, unknown>;
type Stream = 'stdout' | 'stderr';

/** How a per-file detail line of the run log begins after its time (readers of the log can tell them apart). */
export const DETAIL_MARK = 'ferry:   ';
/** The time at the start of every line of the run log: `2026-12-02T01:53:07Z ` (ISO 8601, UTC, seconds). */
export const LINE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;

/** `2026-12-02T01:53:07Z`: a time as the run log writes it (UTC, whole seconds). */
export function logTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** A line of the run log without its time (a log written before lines carried one is left as is). */
export function untimed(line: string): string {
  return line.replace(LINE_TIME, '');
}
/** A solver line longer than this is passed on in pieces (JSON: later pieces carry "continued"). */
export const LINE_MAX = 64 * 1024;
/** An unfinished line is shown after this long without more output (text mode). */
const PARTIAL_FLUSH_MS = 200;

interface SolverStream {
  decoder: StringDecoder;
  /** Text of the current line not passed on yet. */
  pending: string;
  /** Part of the current line was passed on already. */
  continued: boolean;
  timer?: NodeJS.Timeout;
}

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
  private readonly streams: Record<Stream, SolverStream>;
  /** Secrets replaced by *** in everything written. */
  readonly masker = new Masker();
  private fileFailed = false;
  /** The run log's next byte begins a line (and so gets the time). */
  private lineStart = true;
  private stampSecond = -1;
  private stampText = '';

  constructor(opts: LogOptions = {}) {
    this.opts = { format: 'text', quiet: false, tty: false, ...opts };
    const stream = (): SolverStream => ({ decoder: new StringDecoder('utf8'), pending: '', continued: false });
    this.streams = { stdout: stream(), stderr: stream() };
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
    this.flushSolver();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  info(msg: string, fields?: Fields): void {
    this.event('info', msg, fields, !this.opts.quiet);
  }

  /** Per-file details: into the run log only, never on the console, indented under ferry's own lines. */
  detail(msg: string): void {
    this.toFile(`${DETAIL_MARK}${this.masker.mask(msg)}\n`, true);
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

  /**
   * Solver output, decoded as UTF-8 across reads, secrets masked, passed on line by line (text:
   * as written; JSON: one event per line). A line longer than LINE_MAX goes on in pieces, and on a
   * terminal or console an unfinished line shows after a short pause.
   */
  solver(chunk: Buffer | string, stream: Stream): void {
    const s = this.streams[stream];
    s.pending += typeof chunk === 'string' ? chunk : s.decoder.write(chunk);
    let nl: number;
    while ((nl = s.pending.indexOf('\n')) !== -1 && nl <= LINE_MAX) {
      this.solverPiece(stream, s.pending.slice(0, nl), true);
      s.pending = s.pending.slice(nl + 1);
    }
    while (s.pending.length > LINE_MAX) {
      const cut = Math.max(1, this.masker.safeCut(s.pending, LINE_MAX));
      this.solverPiece(stream, s.pending.slice(0, cut), false);
      s.pending = s.pending.slice(cut);
      while ((nl = s.pending.indexOf('\n')) !== -1 && nl <= LINE_MAX) {
        this.solverPiece(stream, s.pending.slice(0, nl), true);
        s.pending = s.pending.slice(nl + 1);
      }
    }
    clearTimeout(s.timer);
    if (s.pending && !this.json) s.timer = setTimeout(() => this.flushPartial(stream, false), PARTIAL_FLUSH_MS).unref();
  }

  /** Passes on what the solver wrote without a final newline (call once it has exited). */
  flushSolver(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const s = this.streams[stream];
      s.pending += s.decoder.end();
      this.flushPartial(stream, true);
    }
  }

  private flushPartial(stream: Stream, all: boolean): void {
    const s = this.streams[stream];
    clearTimeout(s.timer);
    const cut = all ? s.pending.length : this.masker.safeCut(s.pending, s.pending.length);
    if (cut <= 0) return;
    this.solverPiece(stream, s.pending.slice(0, cut), false);
    s.pending = s.pending.slice(cut);
  }

  /** One piece of a solver line; `ends` when the line ends with it. */
  private solverPiece(stream: Stream, text: string, ends: boolean): void {
    const s = this.streams[stream];
    const masked = this.masker.mask(text);
    this.toFile(ends ? `${masked}\n` : masked);
    if (this.json) {
      const event = {
        ts: new Date().toISOString(),
        level: 'solver',
        stream,
        line: masked,
        ...(s.continued ? { continued: true } : {}),
      };
      process.stdout.write(`${JSON.stringify(event)}\n`);
    } else {
      this.around(() => (stream === 'stdout' ? process.stdout : process.stderr).write(ends ? `${masked}\n` : masked));
    }
    s.continued = !ends;
  }

  private event(level: string, text: string, fields: Fields | undefined, show: boolean): void {
    const prefix = level === 'info' || level === 'progress' ? 'ferry: ' : `ferry: ${level}: `;
    const msg = printable(this.masker.mask(text), true);
    this.toFile(`${prefix}${msg}\n`, true);
    if (!show) return;
    if (this.json)
      process.stderr.write(
        `${this.masker.mask(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }))}\n`,
      );
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

  /** The time for the start of a line, made once a second. */
  private stamp(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.stampSecond) [this.stampSecond, this.stampText] = [second, `${logTime(now)} `];
    return this.stampText;
  }

  /**
   * Appends to the run log, the time at the start of every line (hint lines of a message too). ferry's
   * own lines (`own`) start a line of their own: a solver line they interrupt goes on on the next line.
   */
  private timed(data: string, own: boolean): string {
    let out = own && !this.lineStart ? '\n' : '';
    if (out) this.lineStart = true;
    for (let i = 0; i < data.length;) {
      if (this.lineStart) out += this.stamp();
      const nl = data.indexOf('\n', i);
      const end = nl === -1 ? data.length : nl + 1;
      out += data.slice(i, end);
      this.lineStart = nl !== -1;
      i = end;
    }
    return out;
  }

  private toFile(data: string, own = false): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, this.timed(data, own));
    } catch (err) {
      // The run log is best effort: a full disk must not turn into a second failure. Said once, on stderr.
      if (this.fileFailed) return;
      this.fileFailed = true;
      const code = (err as { code?: string }).code ?? String(err);
      this.around(() =>
        process.stderr.write(
          `ferry: warning: cannot write to ${RUN_LOG_NAME} (${code}): from here on it misses lines\n`,
        ),
      );
    }
  }
}

/**
 * Text from elsewhere (object keys, file names) made safe for a terminal: control characters (C0,
 * DEL, C1: escapes that move the cursor, clear the screen, retitle the window) shown as \xNN.
 * `lines` keeps line breaks and tabs (ferry's own multi-line messages).
 */
export function printable(text: string, lines = false): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const controls = lines ? /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g : /[\x00-\x1f\x7f-\x9f]/g;
  return text.replace(controls, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
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

/** 42.0 s, 12 min 5 s, 3 h 2 min. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.floor(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatRate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? (bytes * 1000) / ms : 0)}/s`;
}
