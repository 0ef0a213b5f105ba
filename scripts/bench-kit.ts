// What scripts/bench.ts and scripts/bench-row.ts share: the server's CPU, medians, a fresh filesystem.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const execaSyncOut = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU seconds used so far by the local S3 server's processes (Ceph daemons or MinIO), for context. */
export function serverCpu(): number {
  const pids = execaSyncOut('sh', ['-c', 'pgrep -x "radosgw|ceph-osd|ceph-mon|minio" || true'])
    .split('\n')
    .filter(Boolean);
  const tick = 100; // USER_HZ
  let t = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      t += (Number(f[11]) + Number(f[12])) / tick; // utime, stime
    } catch {
      // gone
    }
  }
  return t;
}

/**
 * Where get extracts: a fresh journaled ext4 (a loop-mounted 4 GiB sparse image), like a compute
 * node's scratch disk. Measured: this VM's root filesystem is ext4 without a journal, where
 * creating a file scans every inode freed in the last 60–360 s; right after an earlier run's
 * output was deleted, every tool took up to 3× longer and the order of the tools decided the
 * result. Falls back to a directory under .build/bench (with a warning) where mount is refused.
 */
export function freshFilesystem(DATA: string): { dir: string; what: string; done: () => void } {
  const img = join(DATA, 'get-fs.img');
  const dir = join(DATA, 'get-fs');
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `umount ${dir} 2>/dev/null; rm -f ${img}`]); // left by an interrupted bench
    execFileSync('truncate', ['-s', '4G', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    execFileSync('mount', ['-o', 'loop', img, dir]);
    return {
      dir,
      what: 'a fresh ext4 (loop-mounted image)',
      done: () => (execFileSync('umount', [dir]), rmSync(img, { force: true })),
    };
  } catch (err) {
    rmSync(img, { force: true });
    console.log(
      `bench: cannot mount a fresh ext4 (${(err as Error).message.split('\n')[0]}); ` +
        `extracting under ${DATA}: results ` +
        `vary with recent deletions there`,
    );
    const d = join(DATA, `get-out-${Date.now()}`);
    return { dir: d, what: 'a directory of the build disk', done: () => rmSync(d, { recursive: true, force: true }) };
  }
}
