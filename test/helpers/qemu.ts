import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from './env.ts';
import { cleanEnv, ferry, type FerryResult } from './ferry.ts';

// The linux-arm64 executable on this x86-64 machine, under qemu-user: Debian qemu-user-static, with the
// arm64 C runtime from libc6-arm64-cross, libstdc++6-arm64-cross and libgcc-s1-arm64-cross. Runs when
// FERRY_ARM64_BIN points at the build (.ci/run's arm64 block does) and qemu is there.

export const QEMU_ARM64 = '/usr/bin/qemu-aarch64-static';
/** Where the arm64 loader and libraries are (qemu's -L, or QEMU_LD_PREFIX). */
export const ARM64_ROOT = '/usr/aarch64-linux-gnu';
export const ARM64_BIN = process.env.FERRY_ARM64_BIN ? resolve(ROOT, process.env.FERRY_ARM64_BIN) : undefined;

/** qemu-aarch64-static and what an arm64 Node needs of the C runtime. */
export const HAS_QEMU_ARM64 =
  existsSync(QEMU_ARM64) &&
  ['ld-linux-aarch64.so.1', 'libc.so.6', 'libstdc++.so.6', 'libgcc_s.so.1'].every((f) =>
    existsSync(join(ARM64_ROOT, 'lib', f)),
  );

/** The ELF machine of an executable (bytes 18–19): 62 x86-64, 183 aarch64. */
export function elfMachine(file: string): number {
  return readFileSync(file).readUInt16LE(18);
}

/**
 * The environment of an arm64 ferry under qemu: nothing of the developer's (cleanEnv), the arm64 C
 * runtime, and leave to run on this x86-64 processor (it refuses to start otherwise: exit 64).
 */
export function arm64Env(extra: Record<string, string> = {}): Record<string, string> {
  return cleanEnv({ QEMU_LD_PREFIX: ARM64_ROOT, FERRY_ALLOW_EMULATION: '1', ...extra });
}

/** Runs the arm64 ferry (`bin`, default FERRY_ARM64_BIN; a copy in a run dir as `./ferry`) under qemu. */
export function ferryArm64(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; bin?: string } = {},
): Promise<FerryResult> {
  const bin = opts.bin ?? ARM64_BIN;
  if (!bin) throw new Error('FERRY_ARM64_BIN is not set');
  return ferry([bin, ...args], { cwd: opts.cwd, env: opts.env ?? arm64Env(), bin: QEMU_ARM64 });
}
