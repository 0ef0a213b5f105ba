import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT, FerryError, localIoError } from '../errors.ts';
import { isAlive } from '../solver/process-tree.ts';
import { LOCK_FILE, oneOffTemps } from '../names.ts';

interface Holder {
  pid: number;
  /** The holder's start time in clock ticks since boot: a reused pid is not mistaken for it. */
  start: number;
  host: string;
  since: string;
  nonce: string;
}

export interface RunLock {
  release(): void;
}

function ownStart(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
}

function readHolder(path: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/**
 * One ferry per run directory: `.ferry-lock` holds the pid, start time and host of the ferry that
 * runs here. A second ferry exits 75 naming it. A lock whose holder is gone (ferry was killed) is
 * taken over. Node has no flock(2) without a native addon (which the single executable cannot
 * carry), so liveness is checked in /proc instead; a holder on another host is always respected.
 */
export function lockRunDir(dir: string): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: Holder = {
    pid: process.pid,
    start: ownStart(),
    host: hostname(),
    since: new Date().toISOString(),
    nonce: randomUUID(),
  };
  const text = `${JSON.stringify(me)}\n`;
  try {
    writeFileSync(path, text, { flag: 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw localIoError(err, 'config', path);
    const h = readHolder(path);
    if (h && (h.host !== me.host || isAlive({ pid: h.pid, start: h.start, command: '' }))) {
      throw new FerryError(
        `another ferry (pid ${h.pid} on ${h.host}, since ${h.since}) is running in this run directory`,
        {
          phase: 'config',
          target: dir,
          exitCode: EXIT.busy,
          hint:
            h.host === me.host
              ? 'wait for it to finish, or give this run its own --workdir'
              : `if no ferry runs on ${h.host} any more, remove ${path} and run again`,
        },
      );
    }
    // The holder is gone: take its place (rename is atomic; re-read to see who won a race).
    const tmp = oneOffTemps().temp(path);
    writeFileSync(tmp, text);
    renameSync(tmp, path);
    if (readHolder(path)?.nonce !== me.nonce) return lockRunDir(dir);
  }
  return {
    release: () => {
      if (readHolder(path)?.nonce !== me.nonce) return;
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    },
  };
}
