/**
 * Tags for tests that need more than the usual test machine (vitest.config.ts defines them). A test
 * that carries one may be skipped where that is missing; scripts/test-report.ts prints every skipped
 * test with its tag's description as the reason, and fails on a skipped test that carries none.
 */
export const NEEDS = [
  { name: 'ceph', description: 'needs the Ceph RGW server from scripts/s3-server (radosgw to stop, a second user)' },
  { name: 'root', description: 'needs root (runs ferry as a user with no passwd entry)' },
  { name: 'mount', description: 'needs root allowed to mount a tmpfs' },
  {
    name: 'namespaces',
    description: 'needs root allowed to make mount and network namespaces (unshare -m with overlayfs, ip netns)',
  },
  { name: 'built', description: 'needs FERRY_BIN: checks the single-file build (npm test builds it, sets it)' },
  { name: 'arm64', description: 'needs FERRY_ARM64_BIN: checks the linux-arm64 build (npm test sets it)' },
  {
    name: 'qemu',
    description:
      'needs qemu-aarch64-static and the arm64 C runtime (Debian qemu-user-static libc6-arm64-cross ' +
      'libstdc++6-arm64-cross libgcc-s1-arm64-cross; scripts/setup installs them)',
  },
];
