import { rename, rm, writeFile } from 'node:fs/promises';
import { localIoError } from '../errors.ts';
import { oneOffTemps } from '../names.ts';

/** Writes a report file whole or not at all: a temp name, renamed into place. */
export async function writeWhole(path: string, text: string): Promise<void> {
  const tmp = oneOffTemps().temp(path);
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw localIoError(err, 'report', path);
  }
}
