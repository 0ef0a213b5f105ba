import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { usageError } from '../errors.ts';
import type { Flag } from '../flags/flag.ts';

/**
 * The file a credentials flag (--aws-config, --azure-config, --proxy-auth-file) names, absolute; it
 * must exist (it is a job input). A re-run in place finds it gone when the run before deleted it
 * (agent/run/wipe.ts removeSecretInputs): the hint says so.
 */
export function jobFile(given: string | undefined, flag: Flag<unknown>, cwd: string, what: string) {
  const file = given === undefined ? undefined : resolve(cwd, given);
  if (file !== undefined && !existsSync(file)) {
    throw usageError(
      `--${flag.name} file not found: ${file}`,
      `upload the ${what} file as a job input and pass its name; for a re-run in place, copy it in again ` +
        `(ferry run deletes the credential files it was given at the top of the run directory when the run ends, ` +
        `whatever its status), or keep it in a subfolder: --${flag.name} job/${basename(file)}`,
    );
  }
  return file;
}
