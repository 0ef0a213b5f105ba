// Which files a run's processes hold open for writing (Linux /proc): a file someone writes is not
// complete yet, whatever its age — a checkpoint written in pieces, an output flushed now and then.
import { lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { errnoCode, localIoError } from '../errors.ts';
import { descendants, processTable } from './process-tree.ts';

/** What one scan found. */
export interface Writers {
  /** Regular files under the directory open for writing (O_WRONLY or O_RDWR): relative, '/'-separated, sorted. */
  paths: string[];
  /** Processes whose open files could not be read (EACCES: another user's): what they write is unknown. */
  unreadable: number[];
}

const O_ACCMODE = 0o3;
const O_RDONLY = 0o0;

/** Errors that mean "it went away while we looked": the process exited, or closed the fd. */
const GONE = new Set(['ENOENT', 'ESRCH']);
/** Errors that mean "not ours to read": another user's process. */
const DENIED = new Set(['EACCES', 'EPERM']);

/** `pid` and every process below it, by pid (the process itself first; none when it is gone). */
export function processAndDescendants(pid: number): number[] {
  return descendants(pid).map((p) => p.pid);
}

/** The fd's access mode from fdinfo's octal `flags:` line (undefined when the fd closed meanwhile). */
function accessMode(pid: number, fd: string): number | undefined {
  const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const m = /^flags:\s*([0-7]+)$/m.exec(info);
  return m ? Number.parseInt(m[1], 8) & O_ACCMODE : undefined;
}

/**
 * The path (relative to `root`) of a file `pid` holds open as `fd` for writing, when it is a regular
 * file still linked under `root`; undefined for anything else (pipes, sockets, FIFOs). The link's
 * text is only trusted when the path it names is that very file (same device and inode): a deleted
 * file's link reads "PATH (deleted)", which may name another file or none.
 */
function writtenFile(pid: number, fd: string, root: string): string | undefined {
  const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  if (!link.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
  const mode = accessMode(pid, fd);
  if (mode === undefined || mode === O_RDONLY) return undefined;
  const held = statSync(`/proc/${pid}/fd/${fd}`);
  if (!held.isFile()) return undefined;
  let named;
  try {
    named = lstatSync(link);
  } catch (err) {
    if (GONE.has(errnoCode(err) ?? '') || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
  if (named.ino !== held.ino || named.dev !== held.dev) return undefined;
  const rel = relative(root, link);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : undefined;
}

/** Adds to `paths` what `pid` holds open for writing under `root`; false when its fds may not be read. */
function scanProcess(pid: number, root: string, paths: Set<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    if (GONE.has(errnoCode(err) ?? '')) return true; // exited: it holds nothing
    if (DENIED.has(errnoCode(err) ?? '')) return false;
    throw localIoError(err, 'solve', `/proc/${pid}/fd`);
  }
  for (const fd of fds) {
    try {
      const rel = writtenFile(pid, fd, root);
      if (rel) paths.add(rel);
    } catch (err) {
      // The fd was closed (or the process exited) between two reads: it holds nothing now.
      if (GONE.has(errnoCode(err) ?? '')) continue;
      if (DENIED.has(errnoCode(err) ?? '')) return false;
      throw localIoError(err, 'solve', `/proc/${pid}/fd/${fd}`);
    }
  }
  return true;
}

/**
 * The regular files under `dir` that any of `pids` holds open for writing right now. Processes and
 * fds that vanish during the scan are skipped (a process that exits holds nothing); a process whose
 * fds this user may not read is listed in `unreadable`. `dir` may be a symlink: paths are relative
 * to it; a directory that does not exist holds nothing. Synchronous and quick (a few /proc reads
 * per open fd): call it as often as needed.
 */
export function openForWriting(dir: string, pids: Iterable<number>): Writers {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { paths: [], unreadable: [] }; // nothing is under what is not there
    throw localIoError(err, 'solve', dir);
  }
  const paths = new Set<string>();
  const unreadable: number[] = [];
  for (const pid of new Set(pids)) if (!scanProcess(pid, root, paths)) unreadable.push(pid);
  return { paths: [...paths].sort(), unreadable };
}

/**
 * The files under `dir` held open for writing by a process of this node other than ferry itself,
 * each with the first such process ("pid 4242, tee"). Asked once every process of the run has
 * ended: whatever still writes there is outside the run (a `tee` of ferry's own output), and a file
 * it holds is not finished while it does. Processes this user may not look into are skipped.
 */
export function heldOpenOutside(dir: string): Map<string, string> {
  const held = new Map<string, string>();
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return held; // a directory that is gone (or not readable) holds nothing ferry would upload
  }
  for (const pid of processTable().keys()) {
    if (pid === process.pid) continue;
    const paths = new Set<string>();
    try {
      scanProcess(pid, root, paths);
    } catch {
      continue; // a process that went odd while looked at: it is not what decides the sweep
    }
    for (const rel of paths) if (!held.has(rel)) held.set(rel, `pid ${pid}, ${nameOf(pid)}`);
  }
  return held;
}

function nameOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Variables of batch systems that hand a job more than one node (mpirun then starts ranks there). */
const MULTI_NODE: Array<[string, (v: string) => boolean]> = [
  ['SLURM_JOB_NUM_NODES', (v) => Number(v) > 1],
  ['SLURM_NNODES', (v) => Number(v) > 1],
  ['PBS_NODEFILE', (v) => v !== ''],
  ['PE_HOSTFILE', (v) => v !== ''],
  ['LSB_MCPU_HOSTS', (v) => v.trim().split(/\s+/).length > 2],
];

/**
 * Whether every process of the run is on this node, where /proc shows what it writes: no MPI, or MPI
 * with no machinefile and no batch allocation of more than one node. Ranks elsewhere write to a shared
 * run directory out of this node's sight: then only the quiet period says a file is finished.
 */
export function writersAreLocal(mpi: { enabled: boolean; hostfile?: string }, env: Record<string, string | undefined>) {
  if (!mpi.enabled) return true;
  if (mpi.hostfile !== undefined) return false;
  return !MULTI_NODE.some(([k, many]) => env[k] !== undefined && many(env[k]!));
}
