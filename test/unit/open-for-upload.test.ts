import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openForUpload, readExactly, SYNC_READ_MAX } from '../../agent/store/parts.ts';

describe('a file opened for an upload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-open-'));

  it('reads a regular file on either path (synchronous when small)', async () => {
    for (const size of [10, SYNC_READ_MAX + 1]) {
      const file = join(dir, `f${size}`);
      writeFileSync(file, Buffer.alloc(size, 7));
      const fh = await openForUpload(file, size);
      const buf = await readExactly(fh, Buffer.alloc(size), 0, file);
      await fh.close();
      expect(buf.equals(Buffer.alloc(size, 7))).toBe(true);
    }
  });

  it('a FIFO swapped in since the scan is refused at once, on either path (no wait for a writer)', async () => {
    for (const size of [10, SYNC_READ_MAX + 1]) {
      const fifo = join(dir, `pipe${size}`);
      execFileSync('mkfifo', [fifo]);
      await expect(openForUpload(fifo, size)).rejects.toThrow('it is no longer a regular file');
    }
  });

  it('a symbolic link swapped in since the scan is refused, its target never read (on either path)', async () => {
    const outside = join(dir, 'secret.txt');
    writeFileSync(outside, 'not an output');
    for (const size of [10, SYNC_READ_MAX + 1]) {
      const link = join(dir, `link${size}`);
      symlinkSync(outside, link);
      await expect(openForUpload(link, size)).rejects.toMatchObject({
        exitCode: 73,
        message: expect.stringContaining('it is no longer a regular file'),
      });
    }
  });
});
