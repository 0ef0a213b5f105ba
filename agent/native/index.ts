// ferry's Node-API addon (agent/native/ferry-native.c): the system calls Node cannot make. From source
// it is .build/native/ferry-native-linux-<arch>.node (scripts/build-native, run by scripts/setup); in
// the single executable it travels as an SEA asset, is written to a private temp folder, loaded, and
// its file removed at once (the mapping stays). A node where it cannot load (no exec on the temp
// folders, a source tree not set up) gets the reason, never a crash: callers fall back or say why.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Native {
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of the run re-parent to this process, not to init. */
  setChildSubreaper(): void;
  isChildSubreaper(): boolean;
  /** waitpid(pid, WNOHANG) for an adopted orphan (never a child libuv spawned): pid, 0 if running, -errno. */
  reap(pid: number): number;
  /** malloc_trim(0): the free pages inside malloc's arenas go back to the system; true if any did. */
  trimMemory(): boolean;
  /** setsockopt(fd, TCP_QUICKACK, 1): the next segment that arrives is acknowledged at once; false if refused. */
  quickAck(fd: number): boolean;
  /**
   * GSSAPI (agent/native/gss.c, libgssapi_krb5.so.2 opened at first use). Each throws an Error with
   * code 'ENOGSSAPI' when the library is not there, and one with `gss: true`, `major`, `minor` and
   * `detail` (the mechanism's words) for a GSSAPI failure (no ticket, expired, no such principal…).
   */
  gssCredential(): { principal: string; lifetime: number };
  gssCache(): { cache: string; principal: string | null; error: string | null };
  gssContext(service: string): GssContext;
  gssStep(ctx: GssContext, token: Buffer | null): Promise<{ token: Buffer | null; complete: boolean }>;
  /**
   * inotify (agent/native/inotify.c) for entries created, moved and removed in folders, never writes;
   * non-blocking. Each returns -errno on failure; inotifyRead reads every event queued and gives the
   * first `most` as [wd, mask, name, …], then [-1, IN_Q_OVERFLOW, ''] if there were more (or [-errno]).
   */
  inotifyOpen(): number;
  inotifyWatch(fd: number, path: string): number;
  inotifyUnwatch(fd: number, wd: number): number;
  inotifyRead(fd: number, most?: number): Array<number | string>;
}

/** A GSSAPI security context (an opaque handle; freed when collected). */
export type GssContext = { readonly __brand: 'GssContext' };

export type NativeLoad = { ok: true; native: Native } | { ok: false; why: string };

/** The asset's name inside the single executable (scripts/build puts the addon of its architecture there). */
export const NATIVE_ASSET = 'ferry-native.node';

let loaded: NativeLoad | undefined;

interface Sea {
  isSea(): boolean;
  getRawAsset(key: string): ArrayBuffer;
}

function sea(): Sea | undefined {
  try {
    const s = createRequire(import.meta.url)('node:sea') as Sea;
    return s.isSea() ? s : undefined;
  } catch {
    return undefined; // a Node without the sea module: running from source
  }
}

function dlopen(file: string): Native {
  const mod = { exports: {} as Native };
  process.dlopen(mod, file, constants.dlopen.RTLD_NOW);
  return mod.exports;
}

/** Writes the asset to the first folder that lets a library be mapped executable, loads it there. */
function fromAsset(s: Sea, env: NodeJS.ProcessEnv): Native {
  const bytes = new Uint8Array(s.getRawAsset(NATIVE_ASSET));
  const dirs = [tmpdir(), env.XDG_RUNTIME_DIR, '/dev/shm', env.HOME].filter((d): d is string => !!d);
  const errors: string[] = [];
  for (const base of [...new Set(dirs)]) {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(base, '.ferry-native-'));
      const file = join(dir, NATIVE_ASSET);
      writeFileSync(file, bytes, { mode: 0o700 });
      return dlopen(file);
    } catch (err) {
      errors.push(`${base}: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`no folder lets it load (${errors.join('; ')})`);
}

/** The addon of the source tree (scripts/build-native). */
export const SOURCE_ADDON = fileURLToPath(
  new URL(`../../.build/native/ferry-native-linux-${process.arch}.node`, import.meta.url),
);

/** Loads the addon from the executable's asset, else from `file`; or says why it is not there. */
export function openNative(file: string, env: NodeJS.ProcessEnv = process.env): NativeLoad {
  try {
    const s = sea();
    return { ok: true, native: s ? fromAsset(s, env) : dlopen(file) };
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    return { ok: false, why: `ferry's native addon did not load: ${why}` };
  }
}

/** The addon, loaded once per process; or why it is not there. */
export function loadNative(env: NodeJS.ProcessEnv = process.env): NativeLoad {
  return (loaded ??= openNative(SOURCE_ADDON, env));
}
