// Every failure ferry reports is a FerryError: what failed, on which target, what to do about it,
// and the sysexits code the process ends with. The codes are part of the CLI contract (README).

export const EXIT = {
  ok: 0,
  checkFailed: 1, // doe status: a row is not complete; verify: the prefix is not whole (as `sha256sum -c`)
  usage: 64, // EX_USAGE: bad flags, missing s3_input/s3_output, bad URI
  dataErr: 65, // EX_DATAERR: invalid or hostile input archive
  noInput: 66, // EX_NOINPUT: input object or bucket not found
  unavailable: 69, // EX_UNAVAILABLE: endpoint or proxy unreachable after retries
  cantCreate: 73, // EX_CANTCREAT: an upload failed or could not be verified
  ioErr: 74, // EX_IOERR: local I/O error (disk full, permissions on the run dir)
  busy: 75, // EX_TEMPFAIL: another ferry runs in this run dir, or holds the output prefix's lease
  internal: 70, // EX_SOFTWARE: a bug in ferry
  noPerm: 77, // EX_NOPERM: access denied, bad credentials, proxy authentication
  cannotExec: 126, // as in shells: the solver exists but could not be started (#! interpreter missing…)
} as const;

export type Phase =
  | 'usage'
  | 'config'
  | 'download'
  | 'extract'
  | 'solve'
  | 'upload'
  | 'verify'
  | 'wipe'
  /** doe status and verify writing their reports */
  | 'report';

export interface FerryErrorInit {
  phase: Phase;
  /** What the operation was acting on: an s3:// URI, a local path, a zip entry. */
  target?: string;
  /** One sentence the user can act on. */
  hint?: string;
  exitCode: number;
  cause?: unknown;
}

export class FerryError extends Error {
  readonly phase: Phase;
  readonly target?: string;
  readonly hint?: string;
  readonly exitCode: number;

  constructor(message: string, init: FerryErrorInit) {
    super(message, { cause: init.cause });
    this.name = 'FerryError';
    this.phase = init.phase;
    this.target = init.target;
    this.hint = init.hint;
    this.exitCode = init.exitCode;
  }

  /** The text printed for the user: `phase: message (target)` plus the hint on its own line. */
  render(): string {
    const where = this.target ? ` (${this.target})` : '';
    const hint = this.hint ? `\n  hint: ${this.hint}` : '';
    return `${this.phase}: ${this.message}${where}${hint}`;
  }
}

export function usageError(message: string, hint?: string): FerryError {
  return new FerryError(message, { phase: 'usage', exitCode: EXIT.usage, hint });
}

/** Node's own error code (ENOENT, ENOSPC…) when there is one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const LOCAL_IO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  'ENOTDIR',
  'EISDIR',
  'EEXIST',
  'ENOENT',
]);

/** Wraps a local file-system failure (disk full, permissions…) as exit 74. */
export function localIoError(err: unknown, phase: Phase, target: string): FerryError {
  if (err instanceof FerryError) return err;
  const code = errnoCode(err);
  const hint =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'the disk holding the run directory is full: free space or use a node with a larger scratch disk'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'the run directory is not writable by this user: check its permissions or choose --workdir'
        : code === 'EMFILE' || code === 'ENFILE'
          ? 'too many open files: raise the limit (ulimit -n 4096), or lower --small-concurrency and --concurrency'
          : undefined;
  const msg = err instanceof Error ? err.message : String(err);
  return new FerryError(`local I/O failed: ${msg}`, { phase, target, hint, exitCode: EXIT.ioErr, cause: err });
}

export function isLocalIoError(err: unknown): boolean {
  const code = errnoCode(err);
  return code !== undefined && LOCAL_IO.has(code) && (err as { syscall?: string }).syscall !== undefined;
}

/** Any failure in words: a FerryError as rendered, an Error's message, a signal's reason; never "[object Object]". */
export function describeError(err: unknown): string {
  if (err instanceof FerryError) return err.render();
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  try {
    return typeof err === 'object' && err !== null ? JSON.stringify(err) : String(err);
  } catch {
    return String(err);
  }
}

/** True when the error is the run being cancelled (a signal), which is never printed as a failure. */
export function isAbort(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'AbortError' || errnoCode(err) === 'ABORT_ERR';
}

/** Exit code for a signal name: 128 + its number (143 for SIGTERM). */
export function signalExit(sig: string | undefined): number {
  const n: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return 128 + (sig && n[sig] ? n[sig] : 15);
}

/** What a store's error rule says: the failure in words (after "OP failed: "), its exit code, a hint. */
export interface Said {
  says: string;
  exitCode: number;
  hint?: string;
}

/**
 * A store's failure as a FerryError: the first of `rules` that recognises `facts` says it, else the
 * SDK's own words (`fallback`). Every store classifies its SDK's errors this way, at its boundary.
 */
export function saidByRules<F>(
  facts: F,
  rules: Array<(f: F) => Said | undefined>,
  fallback: Said,
  ctx: { op: string; phase: Phase; target?: string; cause: unknown },
): FerryError {
  let said = fallback;
  for (const rule of rules) {
    const s = rule(facts);
    if (s) {
      said = s;
      break;
    }
  }
  return new FerryError(`${ctx.op} failed: ${said.says}`, {
    phase: ctx.phase,
    target: ctx.target,
    cause: ctx.cause,
    exitCode: said.exitCode,
    hint: said.hint,
  });
}

/** The exit code a failure carries (a FerryError's), else `fallback`. */
export function errorExit(err: unknown, fallback: number): number {
  return err instanceof FerryError ? err.exitCode : fallback;
}
