import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './env.ts';
import { tempDir } from './ferry.ts';

/**
 * Builds test/helpers/pause-unlink.c (gcc, from scripts/setup) and returns the environment that makes a
 * process stop right before it unlinks a file named `name`: LD_PRELOAD of the shim (it works for the
 * single executable as for Node: both take unlink from the C library), and the file it creates then
 * (`reached`), for the test to wait on before it kills the process.
 */
export function pauseAtUnlink(name: string): { env: Record<string, string>; reached: string } {
  const dir = tempDir('pause-unlink');
  const lib = join(dir, 'pause-unlink.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', lib, join(ROOT, 'test/helpers/pause-unlink.c'), '-ldl']);
  const reached = join(dir, 'reached');
  return { env: { LD_PRELOAD: lib, PAUSE_UNLINK: name, PAUSE_UNLINK_REACHED: reached }, reached };
}
