import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { heldOpenOutside, openForWriting, processAndDescendants, writersAreLocal } from '../../agent/solver/writers.ts';
import { ROOT } from '../helpers/env.ts';

const work = mkdtempSync(join(tmpdir(), 'ferry-writers-'));
chmodSync(work, 0o755); // another user's scan (the last test) must reach it
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Hold {
  path: string;
  flags: string;
  close?: boolean;
  unlink?: boolean;
}

/**
 * A node process that opens each file as told (closing or unlinking some again), then says "ready"
 * and lives until killed. With `child`, it first starts another such process holding those files.
 */
const HOLDER = `
const fs = require('fs');
const { spawn } = require('child_process');
const [holds, child] = JSON.parse(process.argv[1]);
const go = () => {
  for (const h of holds) {
    const fd = fs.openSync(h.path, h.flags);
    if (h.close) fs.closeSync(fd);
    if (h.unlink) fs.unlinkSync(h.path);
  }
  process.stdout.write('ready ' + process.pid + '\\n');
  setInterval(() => {}, 1000);
};
if (child) {
  const args = ['-e', process.argv[2], JSON.stringify([child, null])];
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  c.stdout.once('data', go);
} else go();
`;

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.pid) for (const pid of processAndDescendants(c.pid).reverse()) kill(pid);
});
function kill(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function hold(holds: Hold[], child?: Hold[]): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', HOLDER, JSON.stringify([holds, child ?? null]), HOLDER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(c);
  await new Promise<void>((resolve, reject) => {
    c.stdout!.once('data', () => resolve());
    c.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
  return c;
}

function dirWith(name: string, files: string[]): string {
  const d = join(work, name);
  mkdirSync(d, { recursive: true });
  for (const f of files) {
    mkdirSync(join(d, f, '..'), { recursive: true });
    writeFileSync(join(d, f), 'x');
  }
  return d;
}

describe('openForWriting', () => {
  it('names the files held open for writing or read-write under the directory, and nothing else', async () => {
    const d = dirWith('modes', ['w.dat', 'r.dat', 'rw.dat', 'a.log', 'closed.dat', 'sub/deep/x.rst', 'gone.dat', 'hl']);
    const outside = dirWith('outside', ['o.dat']);
    linkSync(join(d, 'hl'), join(outside, 'hl-too'));
    execFileSync('mkfifo', [join(d, 'fifo')]);
    const c = await hold([
      { path: join(d, 'w.dat'), flags: 'w' },
      { path: join(d, 'r.dat'), flags: 'r' },
      { path: join(d, 'rw.dat'), flags: 'r+' },
      { path: join(d, 'a.log'), flags: 'a' },
      { path: join(d, 'closed.dat'), flags: 'w', close: true },
      { path: join(d, 'sub/deep/x.rst'), flags: 'w' },
      { path: join(d, 'gone.dat'), flags: 'w', unlink: true },
      { path: join(outside, 'o.dat'), flags: 'w' },
      { path: join(d, 'sub'), flags: 'r' },
      { path: join(d, 'fifo'), flags: 'r+' },
      { path: join(d, 'hl'), flags: 'w', unlink: true },
    ]);
    expect(openForWriting(d, [c.pid!])).toEqual({
      paths: ['a.log', 'rw.dat', 'sub/deep/x.rst', 'w.dat'],
      unreadable: [],
    });
    // A deleted file's fd link reads "PATH (deleted)": a file created under either name is not the one held
    // (hl lives on under another name, outside, so the kernel still counts a link to it).
    for (const f of ['gone.dat', 'gone.dat (deleted)', 'hl', 'hl (deleted)']) writeFileSync(join(d, f), 'new');
    expect(openForWriting(d, [c.pid!]).paths).toEqual(['a.log', 'rw.dat', 'sub/deep/x.rst', 'w.dat']);
    // Another directory sees only its own; a process not in the set is not looked at.
    expect(openForWriting(outside, [c.pid!]).paths).toEqual(['o.dat']);
    expect(openForWriting(d, [process.pid]).paths).toEqual([]);
  });

  it('finds the files of a process and its descendants, through a symlinked directory', async () => {
    const d = dirWith('tree', ['parent.out', 'child.out']);
    const link = join(work, 'tree-link');
    symlinkSync(d, link);
    const c = await hold(
      [{ path: join(d, 'parent.out'), flags: 'w' }],
      [{ path: join(link, 'child.out'), flags: 'w' }],
    );
    const pids = processAndDescendants(c.pid!);
    expect(pids[0]).toBe(c.pid);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    expect(openForWriting(link, pids).paths).toEqual(['child.out', 'parent.out']);
    expect(openForWriting(d, [c.pid!]).paths).toEqual(['parent.out']);
  });

  it('heldOpenOutside: what other processes of the node write there, with pid and name; never ferry', async () => {
    const d = dirWith('outside-run', ['tee.txt', 'read.txt', 'mine.txt']);
    const c = await hold([
      { path: join(d, 'tee.txt'), flags: 'a' },
      { path: join(d, 'read.txt'), flags: 'r' },
    ]);
    const mine = openSync(join(d, 'mine.txt'), 'w');
    try {
      const held = heldOpenOutside(d);
      expect([...held.keys()]).toEqual(['tee.txt']);
      expect(held.get('tee.txt')).toMatch(new RegExp(`^pid ${c.pid}, \\S+$`));
    } finally {
      closeSync(mine);
    }
    expect(heldOpenOutside(join(d, 'not-there')).size).toBe(0);
  });

  it('skips processes that are gone and fds that close during the scan', async () => {
    const d = dirWith('churn', []);
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.once('exit', r));
    expect(processAndDescendants(dead.pid!)).toEqual([]);
    expect(openForWriting(d, [dead.pid!, 999_999_999])).toEqual({ paths: [], unreadable: [] });
    // A process opening and closing files as fast as it can, and exiting now and then.
    const churn = `const fs = require('fs'); let i = 0; process.stdout.write('go\\n');
      for (;;) { const fd = fs.openSync(${JSON.stringify(d)} + '/f' + (i++ % 50), 'w'); fs.closeSync(fd); }`;
    const c = spawn(process.execPath, ['-e', churn], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(c);
    await new Promise((r) => c.stdout!.once('data', r));
    let seen = 0;
    for (let i = 0; i < 1000; i++) seen += openForWriting(d, [c.pid!]).paths.length;
    expect(seen).toBeGreaterThan(0); // it did look while files were open
  });

  it.runIf(process.getuid?.() === 0)("lists another user's process as unreadable", { tags: ['root'] }, async () => {
    const d = dirWith('denied', ['mine.dat']);
    const c = await hold([{ path: join(d, 'mine.dat'), flags: 'w' }]);
    const script = `import { openForWriting } from ${JSON.stringify(join(ROOT, 'agent/solver/writers.ts'))};
        console.log(JSON.stringify(openForWriting(${JSON.stringify(d)}, [${c.pid}])));`;
    const out = execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '-e', script],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual({ paths: [], unreadable: [c.pid] });
  });
});

describe('writersAreLocal: when /proc of this node sees every writer of the run', () => {
  it('without MPI, or MPI on this node alone; not with a machinefile or a multi-node allocation', () => {
    const mpi = { enabled: true };
    expect(writersAreLocal({ enabled: false, hostfile: '/h' }, { SLURM_JOB_NUM_NODES: '4' })).toBe(true);
    expect(writersAreLocal(mpi, {})).toBe(true);
    expect(writersAreLocal(mpi, { SLURM_JOB_NUM_NODES: '1', SLURM_NNODES: '1' })).toBe(true);
    expect(writersAreLocal({ ...mpi, hostfile: '/root/machinefile' }, {})).toBe(false);
    expect(writersAreLocal(mpi, { SLURM_JOB_NUM_NODES: '2' })).toBe(false);
    expect(writersAreLocal(mpi, { SLURM_NNODES: '3' })).toBe(false);
    expect(writersAreLocal(mpi, { PBS_NODEFILE: '/var/spool/pbs/aux/1' })).toBe(false);
    expect(writersAreLocal(mpi, { PE_HOSTFILE: '/opt/sge/hosts' })).toBe(false);
    expect(writersAreLocal(mpi, { LSB_MCPU_HOSTS: 'n1 8' })).toBe(true);
    expect(writersAreLocal(mpi, { LSB_MCPU_HOSTS: 'n1 8 n2 8' })).toBe(false);
  });
});
