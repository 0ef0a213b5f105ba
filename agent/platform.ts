// This node's processor against the one this ferry is built for. The kernel refuses an executable of
// another architecture before any of ferry runs (the shell says "Exec format error" and exits 126);
// ferry can speak only when an emulator runs it: qemu-user, named on the command line or registered
// through binfmt_misc. uname(2) then names the emulated machine (os.machine() is aarch64 under
// qemu-aarch64), so the real one is read where the emulator passes the host's answer through:
// /proc/sys/kernel/arch (the kernel's machine, on kernels that have it), else /proc/cpuinfo (x86
// lists vendor_id, Arm "CPU implementer"). Both measured to show the host under qemu-aarch64 7.2.
import { closeSync, openSync, readSync } from 'node:fs';
import { EXIT, FerryError } from './errors.ts';

/** The architectures ferry is built for, by Node's name (process.arch), and how users call them. */
export const ARCHES: Record<string, string> = { x64: 'x86-64', arm64: 'Arm 64-bit (aarch64)' };
/** The kernel's machine names of those architectures. */
const KERNEL_NAMES: Record<string, string> = { x86_64: 'x64', aarch64: 'arm64' };
/** The environment variable that lets an executable run under an emulator all the same. */
export const ALLOW_EMULATION = 'FERRY_ALLOW_EMULATION';

/** The first 4 KiB of a file (the first processor of /proc/cpuinfo), or undefined when unreadable. */
function head(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(4096);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, null));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The architecture of this node's processor as the kernel knows it (Node's name when ferry knows it,
 * else the kernel's), or undefined when nothing says.
 */
export function hostArch(read: (path: string) => string | undefined = head): string | undefined {
  const kernel = read('/proc/sys/kernel/arch')?.trim();
  if (kernel) return KERNEL_NAMES[kernel] ?? kernel;
  const cpu = read('/proc/cpuinfo') ?? '';
  if (/^vendor_id\s*:/m.test(cpu)) return 'x64';
  if (/^CPU implementer\s*:/m.test(cpu)) return 'arm64';
  return undefined;
}

/** The file of this version to upload for nodes of `arch`. */
export function executableName(version: string, arch: string): string {
  return `ferry-${version}-linux-${arch}`;
}

/**
 * Why this executable should not run here (exit 64): it runs under an emulator on a node whose
 * processor has another architecture. Undefined when they match, nothing tells, or the environment
 * sets FERRY_ALLOW_EMULATION=1 (tests under qemu; someone who means it).
 */
export function wrongArchitecture(
  env: NodeJS.ProcessEnv,
  version: string,
  { built, host }: { built: string; host: string | undefined } = { built: process.arch, host: hostArch() },
): FerryError | undefined {
  if (host === undefined || host === built || env[ALLOW_EMULATION] === '1') return undefined;
  const known = ARCHES[host] !== undefined;
  const hint = known
    ? `upload ${executableName(version, host)} for nodes like this one (renamed to ferry, as before)`
    : `ferry is built for ${Object.keys(ARCHES)
        .map((a) => `linux-${a}`)
        .join(' and ')} only: run it from a checkout with Node.js (bin/ferry)`;
  return new FerryError(
    `this is ${executableName(version, built)}, for ${ARCHES[built] ?? built} processors, and this node's ` +
      `processor is ${ARCHES[host] ?? host}: an emulator runs it, slowly if at all`,
    { phase: 'usage', exitCode: EXIT.usage, hint: `${hint}; ${ALLOW_EMULATION}=1 runs this one anyway` },
  );
}
