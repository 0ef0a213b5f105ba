import { openSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** A descriptor that is not a socket (a FIFO opened read-write, so that open does not block), for refusals. */
export function pipeFds(): [number] {
  const fifo = execFileSync('mktemp', ['-u', '/tmp/ferry-fifo-XXXXXX'], { encoding: 'utf8' }).trim();
  execFileSync('mkfifo', [fifo]);
  return [openSync(fifo, 'r+')];
}
