import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { tempDir } from './ferry.ts';

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe', encoding: 'utf8' });

/** True when this process may make mount and network namespaces (root; unshare, overlayfs, ip netns). */
export function canUseNamespaces(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    run('unshare', ['-m', 'true']);
    run('ip', ['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

/** The file the loader finds for `soname` (ldconfig's cache), e.g. /lib/x86_64-linux-gnu/libgssapi_krb5.so.2. */
function libraryPath(soname: string): string {
  const line = run('ldconfig', ['-p'])
    .split('\n')
    .find((l) => l.trim().startsWith(`${soname} `));
  if (!line) throw new Error(`${soname} is not in ldconfig's cache`);
  return line.split('=>')[1].trim();
}

/**
 * A command that runs its arguments on "a node without GSSAPI": in a mount namespace of its own, an
 * overlay over the library's folder whose whiteouts hide libgssapi_krb5.so.2 (the name and the file
 * it links to), so that dlopen() fails as on a machine where it was never installed. Bind-mounting
 * over the file would not do (dlopen then says "file too short"), nor LD_LIBRARY_PATH (the system
 * folder is searched anyway).
 */
export function withoutGssapi(): string {
  const lib = libraryPath('libgssapi_krb5.so.2');
  const dir = realpathSync(dirname(lib));
  const names = [...new Set([basename(lib), basename(realpathSync(lib))])];
  const script = join(tempDir('nogss'), 'without-gssapi');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'set -e',
      'd=$(mktemp -d /tmp/ferry-nogss-XXXXXX)',
      'mkdir "$d/up" "$d/work"',
      ...names.map((n) => `mknod "$d/up/${n}" c 0 0`),
      `unshare -m sh -c 'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/up,workdir=$2/work" "$1" && ` +
        `shift 2 && exec "$@"' sh ${dir} "$d" "$@" && rc=0 || rc=$?`,
      'rm -rf "$d"',
      'exit $rc',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return script;
}

/** A TCP forwarder listening on `host` (a veth address of ours) to 127.0.0.1:`port`. */
export async function forward(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((c) => {
    const up = connect({ host: '127.0.0.1', port });
    c.pipe(up).pipe(c);
    const end = () => (c.destroy(), up.destroy());
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A network namespace with a veth pair to this one, and its own /etc/hosts and /etc/resolv.conf. */
export interface Netns {
  name: string;
  /** This side's address (reachable from inside) and the inside's. */
  outside: string;
  inside: string;
  /** `ip netns exec NAME`: the command prefix that runs something inside. */
  exec: string[];
  /** Starts a process inside (stopped by its pid in close()). */
  spawn(cmd: string, args: string[]): ChildProcess;
  /** Stops the processes spawn() started. */
  stopChildren(): Promise<void>;
  close(): Promise<void>;
}

/** Makes a namespace `ferry-wpad-<pid>` whose /etc/netns files say `hosts` and `resolvConf`. */
export function makeNetns(hosts: (outside: string) => string, resolvConf: string): Netns {
  const name = `ferry-wpad-${process.pid}`;
  const [a, b] = [`fw${process.pid}a`, `fw${process.pid}b`].map((n) => n.slice(-15));
  const net = `10.${200 + (process.pid % 50)}.${(process.pid >> 6) % 250}`;
  const [outside, inside] = [`${net}.1`, `${net}.2`];
  const etc = join('/etc/netns', name);
  const children: ChildProcess[] = [];
  const removeEtc = () => {
    rmSync(etc, { recursive: true, force: true });
    try {
      rmdirSync('/etc/netns'); // ours when no other namespace has files there
    } catch {
      // another namespace's files are there: leave the folder
    }
  };
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'hosts'), hosts(outside));
  writeFileSync(join(etc, 'resolv.conf'), resolvConf);
  run('ip', ['netns', 'add', name]);
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', name, ...args]);
  try {
    run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    run('ip', ['link', 'set', b, 'netns', name]);
    run('ip', ['addr', 'add', `${outside}/30`, 'dev', a]);
    run('ip', ['link', 'set', a, 'up']);
    inNs('ip', 'addr', 'add', `${inside}/30`, 'dev', b);
    inNs('ip', 'link', 'set', b, 'up');
    inNs('ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    run('ip', ['netns', 'delete', name]);
    removeEtc();
    throw err;
  }
  const stopChildren = async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  };
  return {
    name,
    outside,
    inside,
    exec: ['ip', 'netns', 'exec', name],
    spawn: (cmd, args) => {
      const c = spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: 'ignore' });
      children.push(c);
      return c;
    },
    stopChildren,
    close: async () => {
      await stopChildren();
      run('ip', ['netns', 'delete', name]); // the veth pair goes with it
      removeEtc();
    },
  };
}

/** Waits until something listens on `port` inside the namespace. */
export async function listeningInside(ns: Netns, host: string, port: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      const probe = `import socket; socket.create_connection(('${host}', ${port}), 1)`;
      run('ip', [...ns.exec.slice(1), '/usr/bin/python3', '-c', probe]);
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}
