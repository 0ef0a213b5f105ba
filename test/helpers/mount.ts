import { execFileSync } from 'node:child_process';
import { tempDir } from './ferry.ts';

/** True when this process may mount a tmpfs (root, and mount allowed): the `mount` tag's tests run then. */
export function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = tempDir('mount-probe');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  execFileSync('umount', [dir]);
  return true;
}
