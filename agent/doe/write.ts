import { rename, rm, writeFile } from 'node:fs/promises';
import { localIoError } from '../errors.ts';
import { PART_SUFFIX } from '../names.ts';

/** Writes a report file whole or not at all: a temp name, renamed into place. */
export async function writeWhole(path: string, text: string): Promise<void> {
  const tmp = `${path}${PART_SUFFIX}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw localIoError(err, 'report', path);
  }
}
