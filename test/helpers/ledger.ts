import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { getBytes } from './s3.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The ledger a fixture solver keeps: one `path<TAB>sha256` line per file it finished; the last line of a path wins. */
export function readLedger(file: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [rel, hash] = line.split('\t');
    if (rel && hash) out.set(rel, hash);
  }
  return out;
}

/**
 * Where each file of the ledger is now, byte for byte: in the run directory, or in S3 under the
 * prefix. Returns the paths found in neither (the test expects none).
 */
export async function lostFiles(
  ledger: Map<string, string>,
  dir: string,
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<string[]> {
  const lost: string[] = [];
  for (const [rel, hash] of ledger) {
    const local = join(dir, rel);
    if (existsSync(local) && sha(readFileSync(local)) === hash) continue;
    const remote = await getBytes(s3, bucket, `${prefix}${rel}`).catch(() => undefined);
    if (remote && sha(remote) === hash) continue;
    lost.push(rel);
  }
  return lost;
}

/** Pids of live processes whose environment holds `name=value` and whose command starts with `cmd`. */
export function pidsWith(name: string, value: string, cmd: string): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/environ`).includes(needle) &&
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(cmd)
        );
      } catch {
        return false;
      }
    });
}

/** Processes (pid and command) whose environment holds `name=value` (the test's own mark). */
export function processesWith(name: string, value: string): string[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/environ`).includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push(
        `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')} ` +
          `(cwd ${readlinkSync(`/proc/${pid}/cwd`)})`,
      );
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
