import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

/** A port free on 127.0.0.1 right now (another process may take it before it is bound: see `serveOnFreePort`). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** True when something accepts connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `cond` every `everyMs` until it is true. Throws naming `what` after `timeoutMs`, or at once
 * when `alive` says that what it waits on has ended (a process that exited cannot get there); the
 * message ends with what `context` says then (the output of that process, say).
 */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  o: { timeoutMs?: number; everyMs?: number; alive?: () => boolean; context?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  const fail = (why: string) => new Error(`${why}${o.context ? `\n${o.context()}` : ''}`);
  for (;;) {
    if (await cond()) return;
    if (o.alive && !o.alive()) throw fail(`waiting for ${what}: it ended first`);
    if (Date.now() > deadline) throw fail(`timed out waiting for ${what}`);
    await sleep(o.everyMs ?? 50);
  }
}

/** The inode of the socket listening on 127.0.0.1:port (from /proc/net/tcp), if one does. */
function listenerInode(port: number): string | undefined {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === want && f[3] === '0A') return f[9];
  }
  return undefined;
}

/** True when process `pid` itself holds the socket listening on 127.0.0.1:port (not some other process). */
export function listensOn(pid: number, port: number): boolean {
  const inode = listenerInode(port);
  if (!inode) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Starts a server program on a free port, with a bind retry: a free port can be taken by another
 * test file between the probe and the program's bind, so the start counts only once `spawn`'s own
 * process listens there; if it exits first (it could not bind), another port is tried.
 */
export async function serveOnFreePort(
  name: string,
  spawn: (port: number) => ChildProcess,
  o: { port?: number; timeoutMs?: number; tries?: number } = {},
): Promise<{ port: number; child: ChildProcess }> {
  const tries = o.port ? 1 : (o.tries ?? 5);
  for (let attempt = 1; ; attempt++) {
    const port = o.port ?? (await freePort());
    const child = spawn(port);
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    try {
      await waitFor(`${name} to listen on 127.0.0.1:${port}`, () => listensOn(child.pid!, port), {
        timeoutMs: o.timeoutMs ?? 30_000,
        alive: () => !exited(),
      });
      return { port, child };
    } catch (err) {
      if (!exited()) child.kill('SIGKILL');
      if (attempt >= tries) throw err;
    }
  }
}
