// The record of ferry's own files in a run directory. Only files ferry itself made are ferry's: the
// log, state and lock files at the top (by name), temporary files carrying the row's token
// (`<name>.ferry-<token>-<n>`: this attempt's, or an earlier attempt's of the same row that was
// killed mid-write), and the file ferry's own console goes to when the job redirects it into the run
// directory. Anything else — a solver's `res/x.ferry-part`, `.ferry-input-mesh` — is an ordinary file.
import { createHash } from 'node:crypto';
import { fstatSync, readlinkSync, realpathSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { FIXED_OWN, STATE_FILE, tempName, tempToken, type TempNames } from '../names.ts';

export class OwnFiles implements TempNames {
  /** Temporary files this attempt made that may still be on disk (absolute paths). */
  private readonly made = new Set<string>();
  private n = 0;

  constructor(
    /** 12 hex digits, the same for every attempt of the row in this run directory. */
    readonly token: string,
    /** Files (relative) that ferry's stdout or stderr are written to: ferry's, and never complete while it runs. */
    readonly console: ReadonlySet<string> = new Set(),
  ) {}

  /** The record of a row's run: its token comes from the run id, which every attempt in the directory shares. */
  static forRun(runId: string, console?: ReadonlySet<string>): OwnFiles {
    return new OwnFiles(createHash('sha256').update(runId).digest('hex').slice(0, 12), console);
  }

  temp(target: string): string {
    const tmp = tempName(target, this.token, this.n++);
    this.made.add(tmp);
    return tmp;
  }

  gone(tmp: string): void {
    this.made.delete(tmp);
  }

  /** Temporary files of this attempt not yet renamed or removed. */
  get pending(): number {
    return this.made.size;
  }

  /** A file of ferry's (relative, '/'): never an output, and no input may land on it. */
  readonly isOwn = (rel: string): boolean =>
    FIXED_OWN.has(rel) || this.console.has(rel) || tempToken(rel) === this.token;

  /** What the wipe deletes of them: the state file and temporary files (the log, the lock and the console stay). */
  removable(rel: string): boolean {
    return rel === STATE_FILE || tempToken(rel) === this.token;
  }
}

/**
 * The files inside `dir` that ferry's stdout and stderr are redirected to (`ferry run … > console.txt
 * 2>&1` in the run directory): they change for as long as ferry runs, so they can never be uploaded as
 * settled outputs. Relative paths with '/'.
 */
export function consoleFiles(dir: string): Set<string> {
  const out = new Set<string>();
  const root = realpathSync(dir);
  for (const fd of [1, 2]) {
    try {
      if (!fstatSync(fd).isFile()) continue;
      const rel = relative(root, readlinkSync(`/proc/self/fd/${fd}`));
      if (rel && !rel.startsWith('..') && !rel.startsWith(sep)) out.add(rel.split(sep).join('/'));
    } catch {
      // not open, or no /proc: nothing redirected that ferry can tell
    }
  }
  return out;
}
