import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../agent/errors.ts';
import { hostArch, wrongArchitecture } from '../../agent/platform.ts';

// The first processor of /proc/cpuinfo on each kind of node (an AMD EPYC VM here; an AWS Graviton2).
const X86_CPUINFO = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nflags\t\t: fpu vme sse sse2 lm\n';
const ARM_CPUINFO =
  'processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\n' +
  'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n';
const files = (f: Record<string, string>) => (path: string) => f[path];

describe("this node's processor (what an emulator passes through)", () => {
  it("is the kernel's machine name when /proc/sys/kernel/arch has it, in Node's words", () => {
    expect(hostArch(files({ '/proc/sys/kernel/arch': 'x86_64\n', '/proc/cpuinfo': ARM_CPUINFO }))).toBe('x64');
    expect(hostArch(files({ '/proc/sys/kernel/arch': 'aarch64\n', '/proc/cpuinfo': X86_CPUINFO }))).toBe('arm64');
    expect(hostArch(files({ '/proc/sys/kernel/arch': 'ppc64le\n' }))).toBe('ppc64le');
  });

  it('else the CPU description of /proc/cpuinfo; else nothing is said', () => {
    expect(hostArch(files({ '/proc/cpuinfo': X86_CPUINFO }))).toBe('x64');
    expect(hostArch(files({ '/proc/cpuinfo': ARM_CPUINFO }))).toBe('arm64');
    expect(hostArch(files({ '/proc/cpuinfo': 'processor\t: 0\n' }))).toBeUndefined();
    expect(hostArch(files({}))).toBeUndefined();
  });

  it('on this machine: the kernel and the Node running the tests agree', () => {
    expect(hostArch()).toBe(process.arch);
    if (process.arch === 'x64') expect(readFileSync('/proc/cpuinfo', 'utf8')).toMatch(/^vendor_id\s*:/m);
  });
});

describe('the executable of another architecture', () => {
  it('arm64 under an emulator on an x86-64 node: exit 64, names the file to upload and the way round', () => {
    const e = wrongArchitecture({}, '1.2.3', { built: 'arm64', host: 'x64' });
    expect(e?.exitCode).toBe(EXIT.usage);
    expect(e?.render()).toBe(
      "usage: this is ferry-1.2.3-linux-arm64, for Arm 64-bit (aarch64) processors, and this node's processor " +
        'is x86-64: an emulator runs it, slowly if at all\n' +
        '  hint: upload ferry-1.2.3-linux-x64 for nodes like this one (renamed to ferry, as before); ' +
        'FERRY_ALLOW_EMULATION=1 runs this one anyway',
    );
  });

  it('x64 through qemu-x86_64 (binfmt_misc) on an Arm node: the arm64 file', () => {
    expect(wrongArchitecture({}, '1.2.3', { built: 'x64', host: 'arm64' })?.hint).toMatch(
      /^upload ferry-1\.2\.3-linux-arm64 /,
    );
  });

  it('a processor ferry is not built for: run it from a checkout', () => {
    expect(wrongArchitecture({}, '1.2.3', { built: 'x64', host: 'riscv64' })?.message).toMatch(
      /this node's processor is riscv64:/,
    );
    expect(wrongArchitecture({}, '1.2.3', { built: 'x64', host: 'riscv64' })?.hint).toMatch(
      /^ferry is built for linux-x64 and linux-arm64 only: run it from a checkout with Node\.js/,
    );
  });

  it('runs where they match, where nothing tells, and with FERRY_ALLOW_EMULATION=1', () => {
    expect(wrongArchitecture({}, '1.2.3', { built: 'arm64', host: 'arm64' })).toBeUndefined();
    expect(wrongArchitecture({}, '1.2.3', { built: 'x64', host: undefined })).toBeUndefined();
    expect(wrongArchitecture({ FERRY_ALLOW_EMULATION: '1' }, '1.2.3', { built: 'arm64', host: 'x64' })).toBeUndefined();
    expect(wrongArchitecture({ FERRY_ALLOW_EMULATION: 'yes' }, '1.2.3', { built: 'arm64', host: 'x64' })).toBeDefined();
  });
});
